"""Keeping the inbox in step with the engine: one row per ready user task, with its people and deadlines.

After every run, tasks the engine no longer has are closed and new ready tasks get a row. A
row's people come from the diagram: `assignee` (an expression giving a user id — the task is then
his), else `candidates` or the lane's role (the task is offered to them), plus `watchers` (抄送).
Its deadlines come from `due` (a moment, or a duration from now) or the boundary timer on the
task, `remind` (a moment, or a duration before due) and `escalate` (a moment, or a duration
after due); with `calendar` = working the durations count working time on the Chinese calendar.
A failing expression names its element.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from bpm_crm import clock
from bpm_crm.engine.runtime import ProcessRuntime, ReadyUserTask
from bpm_crm.engine.scripting import ScriptFailed
from bpm_crm.extensions import db
from bpm_crm.handlers import calendar
from bpm_crm.models import (
    HumanTask,
    ProcessInstance,
    TaskCandidate,
    TaskStatus,
    TaskWatcher,
    User,
)
from bpm_crm.services import assignment, definitions, permissions
from bpm_crm.services.process_errors import ProcessFailed

_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


class TaskSetupFailed(ProcessFailed):
    """A user task's people or deadlines could not be worked out; names the element."""

    def __init__(self, bpmn_id: str, what: str, detail: str) -> None:
        super().__init__("流程执行失败：%(detail)s", detail=f"'{bpmn_id}': {what}: {detail}")
        self.bpmn_id = bpmn_id


def sync(instance: ProcessInstance, runtime: ProcessRuntime, *, user: User | None, completed_guid: str | None,
         open_rows: dict[str, HumanTask] | None = None) -> None:
    """Close rows of tasks that are gone, add rows for new ready tasks; joins the caller's transaction.

    `open_rows`: the instance's open rows by guid, when the caller knows them all; read otherwise.
    """
    from bpm_crm.services.instances import record

    if open_rows is None:
        # No flush first: pending changes cannot alter which rows of this instance are open (every sync
        # ends with a flush), and what is pending is written with the rows below, in one flush.
        with db.session.no_autoflush:
            open_rows = {row.task_guid: row for row in db.session.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
                .options(lazyload(HumanTask.candidates)))}
    ready = {task.guid: task for task in runtime.ready_user_tasks()}
    now = clock.utcnow_naive()
    for guid, row in open_rows.items():
        if guid in ready:
            continue
        row.completed_at = now
        row.next_deadline_at = None
        if guid == completed_guid:
            row.status = TaskStatus.COMPLETED.value
            row.completed_by_id = user.id if user else None
        else:
            row.status = TaskStatus.CANCELLED.value
            record(instance, "cancelled", task=row, user=None)
    lane_roles = definitions.version(instance.definition_id).lane_roles
    for guid, spec in ready.items():
        if guid not in open_rows:
            db.session.add(_new_row(instance, runtime, spec, lane_roles))
    db.session.flush()


def _new_row(instance: ProcessInstance, runtime: ProcessRuntime, spec: ReadyUserTask,
             lane_roles: dict[str, str]) -> HumanTask:
    properties = spec.properties
    assignee_id = _assignee(runtime, spec, properties.get("assignee"))
    row = HumanTask(
        instance_id=instance.id, task_guid=spec.guid, bpmn_id=spec.bpmn_id, name=spec.name, lane=spec.lane,
        assignee_id=assignee_id, offered=assignee_id is None, scope_user_id=instance.owner_id,
        form_key=properties.get("form"), draft=None, input_data=_input_data(instance, runtime, spec),
        assignee_variable=properties.get("assignee") if _PLAIN_NAME.match(properties.get("assignee") or "") else None,
    )
    if assignee_id is None:
        candidates = _people(runtime, spec, "candidates") or assignment.lane_candidate(spec.lane, lane_roles)
        row.candidates = [TaskCandidate(kind=c.kind.value, value=c.value) for c in candidates]
    row.watchers = [TaskWatcher(user_id=user_id) for user_id in _watcher_ids(runtime, spec)]
    _deadlines(row, runtime, spec)
    return row


def _input_data(instance: ProcessInstance, runtime: ProcessRuntime, spec: ReadyUserTask) -> dict[str, Any] | None:
    """The process variables the task's form reads, kept with the row: the form opens without the engine."""
    schema = definitions.version(instance.definition_id).form(spec.properties.get("form"))
    if schema is None:
        return None
    data = runtime.task_data(spec.guid)
    return {name: data[name] for name in sorted(schema.reads()) if name in data}


def _evaluate(runtime: ProcessRuntime, spec: ReadyUserTask, expression: str, what: str) -> Any:
    try:
        return runtime.evaluate(spec.guid, expression)
    except ScriptFailed as exc:
        raise TaskSetupFailed(spec.bpmn_id, what, str(exc.cause)) from exc


def _assignee(runtime: ProcessRuntime, spec: ReadyUserTask, expression: str | None) -> int | None:
    if not expression:
        return None
    value = _evaluate(runtime, spec, expression, "assignee")
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise TaskSetupFailed(spec.bpmn_id, "assignee", f"{value!r} is not a user id")
    user_id = int(value)
    if db.session.get(User, user_id) is None:
        raise TaskSetupFailed(spec.bpmn_id, "assignee", f"there is no user {user_id}")
    return user_id


def _people(runtime: ProcessRuntime, spec: ReadyUserTask, name: str) -> list[assignment.Candidate]:
    text = spec.properties.get(name)
    if not text:
        return []
    value: Any = _evaluate(runtime, spec, text.lstrip()[1:], name) if assignment.is_expression(text) else text
    try:
        return assignment.resolve([value])
    except ValueError as exc:
        raise TaskSetupFailed(spec.bpmn_id, name, str(exc)) from exc


def _watcher_ids(runtime: ProcessRuntime, spec: ReadyUserTask) -> list[int]:
    """Watchers as people: a role or department given as watcher means its active holders / head now."""
    ids: list[int] = []
    for candidate in _people(runtime, spec, "watchers"):
        ids += permissions.people_named(candidate.kind.value, candidate.value)
    return list(dict.fromkeys(ids))


def _deadlines(row: HumanTask, runtime: ProcessRuntime, spec: ReadyUserTask) -> None:
    now = clock.now()
    due: datetime | None = spec.timer_due
    # `calendar` = working: the durations count working hours of working days (SLA time), not the clock.
    working = spec.properties.get("calendar", "").strip() == "working"
    if spec.properties.get("due"):
        due = _moment(_evaluate(runtime, spec, spec.properties["due"], "due"), base=now, sign=1, spec=spec,
                      what="due", working=working) or due
    remind = escalate = None
    if spec.properties.get("remind"):
        remind = _moment(_evaluate(runtime, spec, spec.properties["remind"], "remind"), base=due, sign=-1,
                         spec=spec, what="remind", working=working)
    if spec.properties.get("escalate"):
        escalate = _moment(_evaluate(runtime, spec, spec.properties["escalate"], "escalate"), base=due, sign=1,
                           spec=spec, what="escalate", working=working)
    row.due_at, row.remind_at, row.escalate_at = _utc(due), _utc(remind), _utc(escalate)
    pending = [moment for moment in (row.remind_at, row.escalate_at) if moment is not None]
    row.next_deadline_at = min(pending) if pending else None


def _moment(value: Any, *, base: datetime | None, sign: int, spec: ReadyUserTask, what: str,
            working: bool = False) -> datetime | None:
    """A deadline from an expression's value: an ISO moment or date, or a duration relative to `base`."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TaskSetupFailed(spec.bpmn_id, what, f"{value!r} is neither an ISO date/time nor a duration like PT4H")
    match = _DURATION.match(value)
    if match and value != "P":
        if base is None:
            raise TaskSetupFailed(spec.bpmn_id, what, "a duration needs a due time to count from")
        days, hours, minutes = (int(part or 0) for part in match.groups())
        if days * 24 * 60 + hours * 60 + minutes > 3660 * 24 * 60:
            raise TaskSetupFailed(spec.bpmn_id, what, f"'{value[:40]}' is longer than ten years")
        delta = sign * timedelta(days=days, hours=hours, minutes=minutes)
        if working:  # a day of working time is a working day's hours
            delta = sign * timedelta(hours=days * calendar.working_hours().seconds_per_day / 3600 + hours,
                                     minutes=minutes)
            try:
                return calendar.add_working_time(base, delta)
            except ValueError as exc:
                raise TaskSetupFailed(spec.bpmn_id, what, str(exc)) from None
        return base + delta
    try:
        if len(value) == 10:  # a day in the company's time zone, from its start
            day = date.fromisoformat(value)
            zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
            moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        detail = f"'{value[:40]}' is neither an ISO date/time nor a duration"
        raise TaskSetupFailed(spec.bpmn_id, what, detail) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.now().tzinfo)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(clock.now().tzinfo).replace(tzinfo=None) if moment is not None else None
