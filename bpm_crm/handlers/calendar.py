"""The working calendar as configured: working hours per working day (BPM_CRM_WORKING_HOURS)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from flask import current_app

from bpm_crm.engine import workdays


@lru_cache(maxsize=8)
def _parse(text: str) -> workdays.WorkingHours:
    return workdays.WorkingHours.parse(text)


def working_hours() -> workdays.WorkingHours:
    """The configured working hours of a working day."""
    return _parse(current_app.config["WORKING_HOURS"])


def working_seconds(start: datetime | None, end: datetime | None) -> int | None:
    """Working time between two stored (naive UTC) moments, in seconds."""
    if start is None or end is None:
        return None
    return workdays.working_seconds_between(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC), working_hours())


def add_working_time(moment: datetime, delta: timedelta) -> datetime:
    """`moment` (aware) moved by `delta` of working time."""
    return workdays.add_working_time(moment, delta, working_hours())
