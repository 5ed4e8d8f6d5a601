"""The unit of work: a use case commits when it returns and rolls back when it raises."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from bpm_crm.extensions import db, holds_read_transaction, writing

P = ParamSpec("P")
R = TypeVar("R")


def _end_read_transaction() -> None:
    """End a read-only transaction the session holds, so the unit of work begins its own with the write lock."""
    # Loading the signed-in user opens one; upgrading its (possibly stale) snapshot to a write can fail
    # with "database is locked" at once instead of waiting for the other writer.
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    if holds_read_transaction(session.connection()):
        session.commit()  # it wrote nothing; unlike a rollback, a commit keeps what it read (the signed-in user)


def unit_of_work(function: Callable[P, R]) -> Callable[P, R]:
    """Commit what `function` changed if it returns; roll everything back if it raises."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with writing():
            _end_read_transaction()
            try:
                result = function(*args, **kwargs)
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
        return result

    return run
