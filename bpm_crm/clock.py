"""The one clock of the product; tests move it, timers and timestamps follow."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    """Aware UTC now, or the frozen time a test set."""
    with _lock:
        frozen = _frozen
    return frozen if frozen is not None else datetime.now(UTC)


def today(zone: str) -> date:
    """The date it is now where the company works (`zone`, e.g. the configured BPM_CRM_TIMEZONE)."""
    return now().astimezone(ZoneInfo(zone)).date()


def utcnow_naive() -> datetime:
    """Naive UTC now, the form every timestamp column stores."""
    return now().replace(tzinfo=None)


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (aware; naive is taken as UTC)."""
    global _frozen
    with _lock:
        _frozen = at if at.tzinfo else at.replace(tzinfo=UTC)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward (freezing it at the real time first if needed)."""
    global _frozen
    with _lock:
        _frozen = (_frozen or datetime.now(UTC)) + delta
        return _frozen


def unfreeze() -> None:
    """Return to real time."""
    global _frozen
    with _lock:
        _frozen = None
