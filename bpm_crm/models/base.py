"""Helpers shared by the model modules."""
from __future__ import annotations

from datetime import datetime

from bpm_crm import clock


def utcnow() -> datetime:
    """Naive UTC now: every timestamp column stores UTC without an offset."""
    return clock.utcnow_naive()
