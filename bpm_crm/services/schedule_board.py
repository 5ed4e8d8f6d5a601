"""What the process owner sees of the timers (定时任务): schedules and their next runs, the last runs with
their figures, failures with retry, and whether the scheduler keeps up.

A failed run (its process could not start, or its scan failed) is retried for the same due time, so its
figures land on the same run; a failed after-commit job (starting the churn or care processes) is given
another round of attempts. Both are idempotent: a retry of something another scheduler already did
changes nothing.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.errors import Conflict, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    HumanTask,
    InstanceStatus,
    Job,
    JobStatus,
    ProcessDefinition,
    ProcessInstance,
    ProcessSchedule,
    ScheduleRun,
    TaskStatus,
    User,
)
from bpm_crm.services import definitions, jobs, permissions, process_settings, schedules

log = logging.getLogger(__name__)

MANAGE = "process.deploy"
RECENT_RUNS = 20
_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|\d{1,2}) \* (\*|[0-7])(?: (\S+))?$")


@dataclass(frozen=True)
class RulePlan:
    """A cron rule as the form edits it: every day / week / month at a time, or anything else as written."""

    frequency: str  # "daily", "weekly", "monthly" or "custom"
    hour: int = 0
    minute: int = 0
    weekday: int = 6  # cron numbering: 0 and 7 are Sunday
    day: int = 1
    zone: str = ""
    text: str = ""

    def rule(self) -> str:
        """The cron line with its time zone."""
        if self.frequency == "custom":
            return self.text.strip()
        day, weekday = (str(self.day), "*") if self.frequency == "monthly" else ("*", "*")
        if self.frequency == "weekly":
            weekday = str(self.weekday % 7)
        return f"{self.minute} {self.hour} {day} * {weekday} {self.zone}".strip()


def plan_of(rule: str) -> RulePlan:
    """Read a rule into the form's terms (anything but a simple daily, weekly or monthly cron is 'custom')."""
    match = _CRON.match(rule.strip())
    if match:
        minute, hour, day, weekday, zone = match.groups()
        at, zone = (int(hour), int(minute)), zone or ""
        if 0 <= at[0] <= 23 and 0 <= at[1] <= 59:
            if day == "*" and weekday == "*":
                return RulePlan("daily", at[0], at[1], zone=zone, text=rule)
            if day == "*":
                return RulePlan("weekly", at[0], at[1], weekday=int(weekday) % 7, zone=zone, text=rule)
            if weekday == "*" and 1 <= int(day) <= 28:
                return RulePlan("monthly", at[0], at[1], day=int(day), zone=zone, text=rule)
    return RulePlan("custom", text=rule)


@dataclass(frozen=True)
class ScheduleView:
    """One schedule as the page lists it."""

    schedule: ProcessSchedule
    process_name: str
    event_name: str
    version: int
    plan: RulePlan
    last_run: ScheduleRun | None
    settings: list[tuple[process_settings.Setting, Any]]


@dataclass(frozen=True)
class Health:
    """Whether the scheduler keeps up: what is due and not yet done, and what failed."""

    overdue_timers: int
    overdue_deadlines: int
    pending_jobs: int
    oldest_due: datetime | None
    lagging: bool


@dataclass(frozen=True)
class Board:
    schedules: list[ScheduleView]
    runs: list[ScheduleRun]
    failed_runs: list[ScheduleRun]
    failed_jobs: list[Job]
    health: Health


def _require(user: User) -> None:
    permissions.require(user, MANAGE)


def _event_name(definition_id: int, event_id: str) -> str:
    spec = definitions.version(definition_id).parsed.spec
    for task_spec in spec.task_specs.values():
        if getattr(task_spec, "bpmn_id", None) == event_id:
            return str(task_spec.bpmn_name or event_id)
    return event_id


def board(*, user: User) -> Board:
    """Everything the 定时任务 page shows."""
    _require(user)
    rows = list(db.session.scalars(select(ProcessSchedule).order_by(ProcessSchedule.active.desc(),
                                                                    ProcessSchedule.next_run_at,
                                                                    ProcessSchedule.process_id)))
    views = []
    for row in rows:
        definition = db.session.get(ProcessDefinition, row.definition_id)
        last = db.session.scalar(select(ScheduleRun).where(ScheduleRun.schedule_id == row.id)
                                 .order_by(ScheduleRun.due_at.desc(), ScheduleRun.id.desc()).limit(1))
        views.append(ScheduleView(
            schedule=row, process_name=definition.name if definition else row.process_id,
            event_name=_event_name(row.definition_id, row.start_event_id), version=definition.version if definition
            else 0, plan=plan_of(row.rule), last_run=last, settings=process_settings.current(row.process_id)
            if process_settings.settings_of(row.process_id) else []))
    runs = list(db.session.scalars(select(ScheduleRun).order_by(ScheduleRun.started_at.desc(), ScheduleRun.id.desc())
                                   .limit(RECENT_RUNS)))
    failed_runs = list(db.session.scalars(select(ScheduleRun).where(
        ScheduleRun.error.is_not(None), ScheduleRun.instance_id.is_(None)).order_by(ScheduleRun.id.desc()).limit(50)))
    failed_jobs = list(db.session.scalars(select(Job).where(Job.status == JobStatus.FAILED.value)
                                          .order_by(Job.id.desc()).limit(50)))
    return Board(views, runs, failed_runs, failed_jobs, health())


def health() -> Health:
    """Due timers, deadlines and jobs the scheduler has not done; lagging when any is overdue by two passes."""
    now = clock.utcnow_naive()
    late = now - timedelta(seconds=max(60.0, 2 * float(current_app.config["TIMER_POLL_SECONDS"])))
    timers = db.session.execute(select(func.count(), func.min(ProcessInstance.next_timer_at)).where(
        ProcessInstance.status == InstanceStatus.RUNNING.value, ProcessInstance.next_timer_at <= now)).one()
    deadlines = db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN.value, HumanTask.next_deadline_at <= now)) or 0
    pending = db.session.scalar(select(func.count()).select_from(Job).where(
        Job.status == JobStatus.PENDING.value, Job.run_after <= now)) or 0
    schedule_due = db.session.scalar(select(func.min(ProcessSchedule.next_run_at)).where(
        ProcessSchedule.active.is_(True), ProcessSchedule.next_run_at <= now))
    oldest = min([moment for moment in (timers[1], schedule_due) if moment is not None], default=None)
    return Health(overdue_timers=int(timers[0] or 0), overdue_deadlines=int(deadlines), pending_jobs=int(pending),
                  oldest_due=oldest, lagging=oldest is not None and oldest < late)


def retry_run(*, run_id: int, user: User) -> ScheduleRun:
    """Run a failed scheduled run again, for its own due time; commits. The run, with its error if it failed again."""
    _require(user)
    run = db.session.scalar(select(ScheduleRun).where(ScheduleRun.id == run_id).with_for_update()
                            .execution_options(populate_existing=True))
    if run is None:
        raise NotFound("运行记录不存在", code="schedule_run_not_found")
    if run.instance_id is not None or run.error is None:
        raise Conflict("此次运行没有失败，无需重试", code="schedule_run_not_failed")
    schedule = db.session.get(ProcessSchedule, run.schedule_id)
    if schedule is None:
        raise NotFound("运行记录不存在", code="schedule_run_not_found")
    return _start(run, schedule)


def run_now(*, schedule_id: int, user: User) -> ScheduleRun:
    """Run a schedule's process once now, besides its schedule (its next due time stays); commits."""
    _require(user)
    schedule = db.session.get(ProcessSchedule, schedule_id)
    if schedule is None or not schedule.active:
        raise NotFound("定时任务不存在或已停用", code="schedule_not_found")
    now = clock.utcnow_naive().replace(microsecond=0)
    run = ScheduleRun(schedule_id=schedule.id, due_at=now, attempts=0)
    db.session.add(run)
    try:
        db.session.flush()
    except Exception:  # the same second, twice: the first one runs
        db.session.rollback()
        raise Conflict("刚刚已运行过，请稍后再试", code="schedule_run_twice") from None
    return _start(run, schedule)


def _start(run: ScheduleRun, schedule: ProcessSchedule) -> ScheduleRun:
    run_id, due = run.id, run.due_at
    run.attempts = (run.attempts or 0) + 1
    run.started_at = clock.utcnow_naive()
    try:
        schedules.start_run(schedule, run)
    except Exception as exc:
        log.exception("retry of run %s (%s) failed", run_id, schedule.process_id)
        db.session.rollback()
        failed = db.session.get(ScheduleRun, run_id)
        if failed is None:  # a run made by run_now that did not survive the rollback
            failed = ScheduleRun(schedule_id=schedule.id, due_at=due)
            db.session.add(failed)
        failed.error = str(exc)[:2000]
        failed.attempts = (failed.attempts or 0) + 1
        db.session.commit()
        return failed
    db.session.commit()
    return run


def retry_job(*, job_id: int, user: User) -> Job:
    """Give a failed after-commit job another round of attempts; commits."""
    _require(user)
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound("作业 %(id)s 不存在", code="job_not_found", id=job_id)
    if job.status != JobStatus.FAILED.value:
        raise Conflict("此作业没有失败，无需重试", code="job_not_failed")
    return jobs.retry(job_id=job_id)


def change_settings(*, process_id: str, values: dict[str, Any], user: User) -> ProcessDefinition:
    """Change a scheduled process's settings (a new version); commits."""
    _require(user)
    return process_settings.change(process_id=process_id, values=values, user=user)


def change_rule(*, schedule_id: int, plan: RulePlan, user: User) -> ProcessDefinition:
    """Give a schedule a new rule: its diagram's start event, as a new version; commits."""
    _require(user)
    schedule = db.session.get(ProcessSchedule, schedule_id)
    if schedule is None:
        raise NotFound("定时任务不存在或已停用", code="schedule_not_found")
    if plan.frequency != "custom" and not plan.zone:
        plan = RulePlan(plan.frequency, plan.hour, plan.minute, plan.weekday, plan.day,
                        current_app.config["BABEL_DEFAULT_TIMEZONE"], plan.text)
    return process_settings.change_rule(process_id=schedule.process_id, start_event_id=schedule.start_event_id,
                                        rule=plan.rule(), user=user)
