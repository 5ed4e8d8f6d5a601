"""Forms kept across a lost session: what a user typed, held for him alone for a few minutes.

When a page's form arrives after the user's session or its CSRF token ran out, its fields are kept
here (never in a URL, never for anyone else) and given back once, when the same user shows that
page again after signing in.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import KeptForm, User
from bpm_crm.services.transaction import unit_of_work

KEEP_MINUTES = 30
MAX_FIELDS = 200
MAX_BYTES = 256 * 1024  # a task form's JSON is bounded at 300 KB; a page form is far smaller


def _expired() -> Any:
    return KeptForm.created_at < clock.utcnow_naive() - timedelta(minutes=KEEP_MINUTES)


def _bounded(fields: list[tuple[str, str]]) -> list[list[str]] | None:
    kept = [[str(name), str(value)] for name, value in fields[:MAX_FIELDS]]
    size = sum(len(name.encode()) + len(value.encode()) for name, value in kept)
    return kept if kept and size <= MAX_BYTES else None


@unit_of_work
def keep(*, user_id: int, page: str, action: str, fields: list[tuple[str, str]]) -> int | None:
    """Hold the fields for the user (replacing what he had kept before); commits. None: nothing worth keeping."""
    kept = _bounded(fields)
    if kept is None or db.session.get(User, user_id) is None:
        return None
    db.session.execute(delete(KeptForm).where(or_(KeptForm.user_id == user_id, _expired())))
    row = KeptForm(user_id=user_id, page=page[:500], action=action[:500], fields=kept)
    db.session.add(row)
    db.session.flush()
    return row.id


@unit_of_work
def take(*, kept_id: int, user: User, page: str) -> KeptForm | None:
    """The kept fields, once, when `user` kept them for `page` minutes ago; commits."""
    row = db.session.scalar(select(KeptForm).where(KeptForm.id == kept_id).with_for_update())
    if row is None or row.page != page:
        return None
    if row.user_id != user.id:
        db.session.delete(row)  # never anyone else's
        return None
    fresh = row.created_at >= clock.utcnow_naive() - timedelta(minutes=KEEP_MINUTES)
    db.session.delete(row)
    return row if fresh else None


@unit_of_work
def discard(*, kept_id: int) -> None:
    """Forget kept fields nobody will get back (another user signed in on that browser); commits."""
    db.session.execute(delete(KeptForm).where(KeptForm.id == kept_id))
