"""Care rules (关怀规则): when the timers make a care task, for whom, and what it says."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bpm_crm.extensions import Model
from bpm_crm.models.base import NEVER_REUSE_IDS, utcnow
from bpm_crm.models.crm import Audited


class CareTrigger(enum.StrEnum):
    """What a rule counts from: a contact's birthday, a date every year, an order, a closed service request."""

    BIRTHDAY = "birthday"
    ANNUAL = "annual"
    ORDER = "order"
    SERVICE = "service"


class CareCalendar(enum.StrEnum):
    SOLAR = "solar"
    LUNAR = "lunar"


class CareRule(Audited, Model):
    """One rule: a task `offset_days` after its trigger, made `lead_days` before due, for whom `condition` holds."""

    __tablename__ = "care_rules"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # the care task's kind (关怀类型): 生日 / 节日 / 售后回访 / 自定义
    trigger: Mapped[str] = mapped_column(String(20))  # CareTrigger
    # An annual rule's date: month and day in the solar or the lunar calendar (春节 is lunar 1-1).
    calendar: Mapped[str] = mapped_column(String(10), default=CareCalendar.SOLAR.value)
    month: Mapped[int | None]
    day: Mapped[int | None]
    offset_days: Mapped[int] = mapped_column(default=0)  # due this many days after (negative: before) the trigger
    lead_days: Mapped[int] = mapped_column(default=3)  # the task appears this many days before it is due
    # A diagram expression over `customer` and `contact` (dicts of their fields), run in the sandbox; empty: everyone.
    condition: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(String(200))  # the task's title; {customer}, {contact}, {date} are filled in
    active: Mapped[bool] = mapped_column(default=True)


class CareOccurrence(Model):
    """An occasion a rule has made its task for ("contact:12:2026-11-28"): never a second one, even if it is deleted."""

    __tablename__ = "care_occurrences"
    __table_args__ = (UniqueConstraint("rule_id", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("care_rules.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(80))
    care_task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
