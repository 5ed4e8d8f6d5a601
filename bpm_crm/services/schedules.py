"""Processes started on a schedule: timer start events, each due time started exactly once.

A diagram's timer start event states its rule as a constant: an ISO 8601 cycle
(`"R/2026-01-03T02:00:00+08:00/P7D"`), a single moment (`"2027-01-01T09:00:00+08:00"`), or a cron
line with an optional time zone (`"0 2 * * 6 Asia/Shanghai"`: Saturdays at 02:00). Deploying a
version keeps one schedule row per start event; the scheduler (the in-process loop or Celery
beat) starts a fresh instance per due time. Two schedulers never start the same due time twice
(the row lock and the unique (schedule, due time) run), and after downtime a missed period runs
once, not once per missed period.
"""
from __future__ import annotations

import ast
import logging
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import ProcessDefinition, ProcessInstance, ProcessSchedule, ScheduleRun

log = logging.getLogger(__name__)

MIN_PERIOD = timedelta(minutes=1)
_CYCLE = re.compile(r"^R(\d*)/([^/]+)/(P[^/]+)$")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _constant(expression: str) -> str:
    """A timer expression must be a constant text for a start event: there is no data to evaluate it against."""
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("the rule must be a quoted constant, e.g. \"0 2 * * 6 Asia/Shanghai\"") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the rule must be text")
    return value.strip()


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or current_app.config["BABEL_DEFAULT_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match or text == "P" or text.endswith("T"):
        raise ValueError(f"'{text}' is not a duration like P7D or PT1H (months and years are not supported)")
    weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date and time") from None
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' needs a time zone offset, e.g. +08:00")
    return moment


def parse_rule(expression: str) -> str:
    """Check a start event's rule; the rule text, or ValueError saying what is wrong."""
    rule = _constant(expression)
    next_due(rule, after=clock.now())
    return rule


def next_due(rule: str, *, after: datetime) -> datetime | None:
    """The first due time of `rule` strictly after `after` (aware), or None when it has no more."""
    cycle = _CYCLE.match(rule)
    if cycle:
        repeats, start_text, period_text = cycle.groups()
        start, period = _moment(start_text), _duration(period_text)
        if period < MIN_PERIOD:
            raise ValueError("a schedule repeats at most once a minute")
        if start > after:
            return start
        count = (after - start) // period + 1
        if repeats and count >= int(repeats):
            return None
        return start + count * period
    if rule[:1].isdigit() and rule.count("-") >= 2 and "T" in rule:
        moment = _moment(rule)
        return moment if moment > after else None
    fields = rule.split()
    if len(fields) not in (5, 6):
        raise ValueError("a rule is an ISO cycle (R/start/P7D), an ISO moment, or cron with five fields")
    zone = _zone(fields[5] if len(fields) == 6 else None)
    line = " ".join(fields[:5])
    if not croniter.is_valid(line):
        raise ValueError(f"'{line}' is not a valid cron line")
    local = after.astimezone(zone)
    following = croniter(line, local).get_next(datetime)
    if following - croniter(line, following).get_prev(datetime) < MIN_PERIOD:
        raise ValueError("a schedule repeats at most once a minute")
    return following


def _naive(moment: datetime | None) -> datetime | None:
    return moment.astimezone(clock.now().tzinfo).replace(tzinfo=None) if moment is not None else None


def sync_for(definition: ProcessDefinition, start_timers: list[tuple[str, str]]) -> None:
    """Point the process's schedules at a newly deployed version; joins the caller's transaction."""
    existing = {row.start_event_id: row for row in db.session.scalars(
        select(ProcessSchedule).where(ProcessSchedule.process_id == definition.process_id))}
    now = clock.now()
    present = set()
    for event_id, expression in start_timers:
        rule = parse_rule(expression)
        present.add(event_id)
        row = existing.get(event_id)
        if row is None:
            row = ProcessSchedule(process_id=definition.process_id, start_event_id=event_id, rule=rule)
            db.session.add(row)
        if row.rule != rule or row.next_run_at is None or not row.active:
            row.rule = rule
            row.next_run_at = _naive(next_due(rule, after=now))
        row.definition_id = definition.id
        row.active = row.next_run_at is not None
    for event_id, row in existing.items():
        if event_id not in present:
            row.active = False
            row.next_run_at = None


def due_schedule_ids(*, now: datetime | None = None) -> list[int]:
    moment = now or clock.utcnow_naive()
    return list(db.session.scalars(select(ProcessSchedule.id).where(
        ProcessSchedule.active.is_(True), ProcessSchedule.next_run_at <= moment).order_by(ProcessSchedule.next_run_at)))


def run_schedule(*, schedule_id: int) -> int | None:
    """Start the instance of a due schedule once; commits. The instance id, or None when not due or taken."""
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.id == schedule_id)
                                 .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    now = clock.utcnow_naive()
    if schedule is None or not schedule.active or schedule.next_run_at is None or schedule.next_run_at > now:
        db.session.rollback()
        return None
    due = schedule.next_run_at
    run = ScheduleRun(schedule_id=schedule.id, due_at=due)
    db.session.add(run)
    try:
        db.session.flush()
    except IntegrityError:  # another scheduler started this due time
        db.session.rollback()
        return None
    # The next due time counts from now: after downtime the missed period runs once, not once per period.
    after = max(clock.now(), due.replace(tzinfo=clock.now().tzinfo))
    schedule.next_run_at = _naive(next_due(schedule.rule, after=after))
    schedule.active = schedule.next_run_at is not None
    schedule.last_run_at = now
    try:
        instance = start_run(schedule, run)
    except Exception as exc:
        log.exception("schedule %s (%s) failed to start", schedule.id, schedule.process_id)
        db.session.rollback()
        _record_failure(schedule_id, due, str(exc))
        return None
    db.session.commit()
    return instance.id


def start_run(schedule: ProcessSchedule, run: ScheduleRun) -> ProcessInstance:
    """Start the schedule's process for a recorded run (its due time) and note on the run what it started and
    what it reported; joins the caller's transaction. The scheduler, a retry and 立即运行 all start runs so."""
    instance = start_scheduled(schedule, run.due_at)
    run.instance_id = instance.id
    run.error = None
    run.figures = run_figures(instance)
    return instance


def start_scheduled(schedule: ProcessSchedule, due: datetime) -> ProcessInstance:
    """Start the schedule's process for one due time (naive UTC); joins the caller's transaction."""
    from bpm_crm.services import instances

    zone = _zone(None)
    local = due.replace(tzinfo=clock.now().tzinfo).astimezone(zone)
    name = db.session.scalar(select(ProcessDefinition.name).where(ProcessDefinition.id == schedule.definition_id))
    return instances.start_instance(
        process_id=schedule.process_id, business_type=None, business_id=None, owner_id=None,
        title=f"{name or schedule.process_id} {local:%Y-%m-%d %H:%M}", data={"scheduled_at": due.isoformat() + "Z"},
        user=None, start_event=schedule.start_event_id)


def run_figures(instance: ProcessInstance) -> dict[str, Any] | None:
    """What a scheduled run reports: its process variable `figures` (a dict), if it sets one."""
    from bpm_crm.services import instances

    value = instances.instance_variables(instance).get("figures")
    return value if isinstance(value, dict) else None


def _record_failure(schedule_id: int, due: datetime, message: str) -> None:
    schedule = db.session.get(ProcessSchedule, schedule_id)
    if schedule is None:
        return
    db.session.add(ScheduleRun(schedule_id=schedule_id, due_at=due, error=message[:2000]))
    schedule.next_run_at = _naive(next_due(schedule.rule, after=clock.now()))
    schedule.active = schedule.next_run_at is not None
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()


def run_due_schedules(*, now: datetime | None = None) -> int:
    """Start every due schedule once; returns how many instances were started."""
    ids = due_schedule_ids(now=now)
    db.session.rollback()
    return sum(1 for schedule_id in ids if run_schedule(schedule_id=schedule_id) is not None)
