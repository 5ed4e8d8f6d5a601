"""Running process instances: start, restore and run, save with the inbox, history, incidents.

The engine (bpm_crm.engine) knows nothing of the database; this module locks an instance's
row, restores it, lets the engine run, writes the state, the inbox rows, the message
subscriptions and the history back — all in the caller's transaction. An instance whose stored
state cannot be restored, or whose diagram fails while no user is waiting (a timer), gets an
incident on the instance instead of an error page.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import lazyload

from bpm_crm import clock
from bpm_crm.engine.runtime import EngineLimitExceeded, ProcessRuntime, StateUnreadable
from bpm_crm.engine.scripting import ScriptEngine, ScriptFailed, ServiceTaskFailed
from bpm_crm.errors import Conflict, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers import HandlerContext, calendar, call_handler
from bpm_crm.models import (
    HumanTask,
    InstanceStatus,
    MessageSubscription,
    ProcessEvent,
    ProcessInstance,
    TaskStatus,
    User,
)
from bpm_crm.services import definitions, permissions, task_sync
from bpm_crm.services.process_errors import InstanceIncident, ProcessFailed

log = logging.getLogger(__name__)


def naive(moment: datetime | None) -> datetime | None:
    """An aware moment as the naive UTC the columns store."""
    return moment.astimezone(clock.now().tzinfo).replace(tzinfo=None) if moment and moment.tzinfo else moment


def engine_for(instance: ProcessInstance, user: User | None) -> ScriptEngine:
    """The script engine of one run: sandboxed code, and service tasks calling handlers for this instance."""

    def call_service(task: Any, operation: str, params: dict[str, Any]) -> Any:
        context = HandlerContext(instance=instance, user=user, task_bpmn_id=task.task_spec.bpmn_id)
        return call_handler(operation, context, params)

    return ScriptEngine(call_service, timeout=current_app.config["SCRIPT_TIMEOUT_SECONDS"],
                        working_hours=calendar.working_hours())


def restore(instance: ProcessInstance, user: User | None) -> ProcessRuntime:
    """The instance in memory; an unreadable state becomes an incident (InstanceIncident)."""
    try:
        return ProcessRuntime.restore(instance.state, engine_for(instance, user),
                                      definitions.version(instance.definition_id).parsed)
    except StateUnreadable as exc:
        log.error("instance %s: stored state cannot be restored: %s", instance.id, exc)
        mark_incident(instance.id, f"流程状态无法读取：{exc}", retry=False)
        raise InstanceIncident("流程实例的状态已损坏，已记录为故障，请联系流程负责人处理") from exc


def run(instance: ProcessInstance, user: User | None, step: Callable[[ProcessRuntime], None]) -> ProcessRuntime:
    """Restore, apply `step`, and turn engine failures into ProcessFailed naming the element."""
    runtime = restore(instance, user)
    try:
        step(runtime)
    except (ServiceTaskFailed, ScriptFailed, EngineLimitExceeded) as exc:
        log.warning("instance %s: %s", instance.id, exc)
        raise ProcessFailed("流程执行失败：%(detail)s", detail=str(exc)) from exc
    return runtime


def start_instance(*, process_id: str, business_type: str | None, business_id: int | None, owner_id: int | None,
                   title: str, data: dict[str, Any], user: User | None,
                   start_event: str | None = None) -> ProcessInstance:
    """Start the newest version of a process for a record; joins the caller's transaction."""
    definition = definitions.latest_definition(process_id)
    instance = ProcessInstance(
        definition_id=definition.id, process_id=process_id, business_type=business_type,
        business_id=business_id, owner_id=owner_id, title=title[:200], started_by_id=user.id if user else None,
        state="",
    )
    db.session.add(instance)
    db.session.flush()
    record(instance, "started", user=user, data=data, task_name=definition.name)  # before what the start sets off
    try:
        runtime = ProcessRuntime.start(definitions.version(definition.id).parsed, data, engine_for(instance, user),
                                       start_event=start_event)
    except (ServiceTaskFailed, ScriptFailed, EngineLimitExceeded) as exc:
        raise ProcessFailed("流程启动失败：%(detail)s", detail=str(exc)) from exc
    save(instance, runtime, user=user, completed_guid=None)
    return instance


def save(instance: ProcessInstance, runtime: ProcessRuntime, *, user: User | None, completed_guid: str | None,
         open_rows: dict[str, HumanTask] | None = None) -> None:
    """Write the engine state back and bring the inbox and the subscriptions in step with it.

    `open_rows`: the instance's open inbox rows by task guid when the caller knows them all (else read).
    """
    instance.state = runtime.dump()
    instance.next_timer_at = naive(runtime.next_timer_due())
    instance.error = None
    if runtime.completed and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED.value
        instance.ended_at = clock.utcnow_naive()
        record(instance, "completed", user=None)
    task_sync.sync(instance, runtime, user=user, completed_guid=completed_guid, open_rows=open_rows)
    _sync_subscriptions(instance, runtime)


def _sync_subscriptions(instance: ProcessInstance, runtime: ProcessRuntime) -> None:
    waiting = set(runtime.waiting_messages()) if instance.status == InstanceStatus.RUNNING else set()
    if not waiting and not instance.waits_for_message:
        return  # the common case costs no query
    known = {row.message_name: row for row in db.session.scalars(
        select(MessageSubscription).where(MessageSubscription.instance_id == instance.id))}
    for name, row in known.items():
        if name not in waiting:
            db.session.delete(row)
    for name in waiting - set(known):
        db.session.add(MessageSubscription(instance_id=instance.id, message_name=name,
                                           business_type=instance.business_type, business_id=instance.business_id))
    instance.waits_for_message = bool(waiting)


def record(instance: ProcessInstance, action: str, *, user: User | None, task: HumanTask | None = None,
           data: dict[str, Any] | None = None, comment: str | None = None, task_name: str | None = None) -> None:
    """Append a history line; joins the caller's transaction."""
    db.session.add(ProcessEvent(
        instance_id=instance.id, human_task_id=task.id if task else None, action=action,
        task_name=task.name if task else task_name, user_id=user.id if user else None, data=data,
        comment=comment or None,
    ))


def lock(instance_id: int, *, skip_locked: bool = False) -> ProcessInstance | None:
    """Lock an instance row for this transaction (on SQLite the write transaction already holds the lock)."""
    query = (
        select(ProcessInstance).where(ProcessInstance.id == instance_id).options(lazyload("*"))
        .execution_options(populate_existing=True).with_for_update(skip_locked=skip_locked, of=ProcessInstance)
    )
    return db.session.scalar(query)


def mark_incident(instance_id: int, message: str, *, retry: bool = True) -> None:
    """Keep a failure on the instance in its own transaction; retry its timers later when `retry`."""
    db.session.rollback()
    instance = lock(instance_id)
    if instance is None:
        db.session.rollback()
        return
    instance.error = message[:2000]
    instance.next_timer_at = clock.utcnow_naive() + timedelta(minutes=5) if retry else None
    record(instance, "incident", user=None, comment=message[:2000])
    db.session.commit()


def cancel_instance(*, instance: ProcessInstance, user: User | None, reason: str) -> None:
    """End a running instance and close its open tasks; joins the caller's transaction."""
    locked = lock(instance.id)
    if locked is None or locked.status != InstanceStatus.RUNNING:
        return
    now = clock.utcnow_naive()
    for task in db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == locked.id, HumanTask.status == TaskStatus.OPEN)
    ):
        task.status = TaskStatus.CANCELLED.value
        task.completed_at = now
        task.next_deadline_at = None
    locked.status = InstanceStatus.CANCELLED.value
    locked.ended_at = now
    locked.next_timer_at = None
    locked.waits_for_message = False
    db.session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == locked.id))
    record(locked, "cancelled", user=user, comment=reason)


def get_instance(*, instance_id: int, user: User) -> ProcessInstance:
    """An instance within the user's process scope or one he works or watches on; NotFound otherwise."""
    from bpm_crm.services.human_tasks import involved_instance_ids

    instance = db.session.scalar(
        select(ProcessInstance).where(
            ProcessInstance.id == instance_id,
            or_(permissions.scope_clause(user, "process.read", [ProcessInstance.owner_id]),
                ProcessInstance.id.in_(involved_instance_ids(user))),
        )
    )
    if instance is None:
        raise NotFound("流程实例不存在或您无权查看")
    return instance


def history(instance_id: int) -> list[ProcessEvent]:
    """The instance's history, oldest first."""
    return list(db.session.scalars(
        select(ProcessEvent).where(ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id)))


def instance_variables(instance: ProcessInstance) -> dict[str, Any]:
    """The instance's current process variables (for the instance view); empty when unreadable."""
    if not instance.state:
        return {}
    try:
        runtime = ProcessRuntime.restore(instance.state, ScriptEngine(),
                                         definitions.version(instance.definition_id).parsed)
    except StateUnreadable:
        return {}
    return runtime.last_task_data()


def current_steps(instance: ProcessInstance) -> list[str]:
    """BPMN ids of the steps the instance waits in (for the highlighted diagram)."""
    return list(db.session.scalars(select(HumanTask.bpmn_id).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)))


def instance_tasks(instance_id: int) -> list[HumanTask]:
    """Every inbox row an instance has had, oldest first (open, completed and cancelled)."""
    return list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                                   .order_by(HumanTask.id)))


def instances_of(business_type: str, business_id: int) -> list[ProcessInstance]:
    """The instances run for one record, newest first."""
    return list(db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.business_type == business_type, ProcessInstance.business_id == business_id)
        .order_by(ProcessInstance.id.desc())))


def assert_running(instance: ProcessInstance | None) -> ProcessInstance:
    if instance is None or instance.status != InstanceStatus.RUNNING:
        raise Conflict("此流程已结束")
    return instance
