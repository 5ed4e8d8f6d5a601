"""The unit of work: a use case commits when it returns and rolls back when it raises."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from bpm_crm.extensions import db

P = ParamSpec("P")
R = TypeVar("R")


def unit_of_work(function: Callable[P, R]) -> Callable[P, R]:
    """Commit what `function` changed if it returns; roll everything back if it raises."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = function(*args, **kwargs)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return result

    return run
