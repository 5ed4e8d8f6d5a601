"""Helpers shared by the model modules."""
from __future__ import annotations

from datetime import datetime

from bpm_crm import clock

# Tables of records that can be deleted and restored: SQLite must never hand a deleted row's id to a new
# one (AUTOINCREMENT), or the new record would take the old one's business number and audit history.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    """Naive UTC now: every timestamp column stores UTC without an offset."""
    return clock.utcnow_naive()
