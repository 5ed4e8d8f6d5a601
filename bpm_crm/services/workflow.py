"""Process use cases: deploy, start, run, complete, claim, timers, history.

The engine (bpm_crm.engine) knows nothing of the database; this module loads an
instance, locks its row, runs it, writes its state, the inbox rows and the history in
the caller's transaction. Public use cases that end a unit of work commit; helpers
marked "joins the caller's transaction" do not.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from bpm_crm import clock
from bpm_crm.engine.definitions import DefinitionInvalid, ParsedDefinition, load_definition, parse_definition
from bpm_crm.engine.runtime import ProcessRuntime, ScriptEngine, ScriptFailed, ServiceTaskFailed
from bpm_crm.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.tasks import TASK_FORMS, FormContext, form_keys
from bpm_crm.handlers import HandlerContext, call_handler, handler_names
from bpm_crm.models import (
    HumanTask,
    InstanceStatus,
    ProcessDefinition,
    ProcessEvent,
    ProcessInstance,
    Role,
    TaskStatus,
    User,
)
from bpm_crm.services import permissions
from bpm_crm.services.transaction import unit_of_work

log = logging.getLogger(__name__)


class ProcessFailed(DomainError):
    """A step of the process failed (a handler or a diagram expression); nothing was saved."""

    status = 500


@dataclass(frozen=True)
class BusinessBinding:
    """How the workflow layer reaches the record a process is about."""

    load: Callable[[int], Any]
    form_choices: Callable[[User, Any, str], dict[str, list[tuple[int, str]]]]


BUSINESS_TYPES: dict[str, BusinessBinding] = {}


def _naive(moment: datetime | None) -> datetime | None:
    return moment.astimezone(clock.now().tzinfo).replace(tzinfo=None) if moment else None


# Deploying -----------------------------------------------------------------------------

def validate_definition(xml: bytes | str, file_name: str = "upload.bpmn") -> ParsedDefinition:
    """Parse and check a diagram against the registered handlers, forms and roles."""
    lanes = set(db.session.scalars(select(Role.name))) | set(db.session.scalars(select(Role.code)))
    return parse_definition(
        xml, file_name=file_name, handler_names=handler_names(), form_keys=form_keys(), lane_names=lanes
    )


def deploy(*, xml: bytes | str, file_name: str, user: User | None = None) -> tuple[ProcessDefinition, bool]:
    """Deploy a diagram as a new version unless the same content is deployed already; commits."""
    parsed = validate_definition(xml, file_name)
    existing = db.session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == parsed.process_id,
            ProcessDefinition.content_hash == parsed.content_hash,
        )
    )
    if existing is not None:
        return existing, False
    latest = db.session.scalar(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == parsed.process_id)
    )
    definition = ProcessDefinition(
        process_id=parsed.process_id,
        name=parsed.name,
        version=(latest or 0) + 1,
        content_hash=parsed.content_hash,
        bpmn_xml=parsed.xml,
        file_name=file_name,
        deployed_by_id=user.id if user else None,
    )
    db.session.add(definition)
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent deploy of the same version won the race
        db.session.rollback()
        raise Conflict("该流程刚被他人部署，请刷新后重试") from exc
    return definition, True


def deploy_directory(directory: str | Path, *, user: User | None = None) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every *.bpmn file of a directory; stops at the first invalid file."""
    results = []
    for path in sorted(Path(directory).glob("*.bpmn")):
        try:
            results.append(deploy(xml=path.read_bytes(), file_name=path.name, user=user))
        except DefinitionInvalid as exc:
            raise DefinitionInvalid(exc.problems) from exc
    return results


def latest_definition(process_id: str) -> ProcessDefinition:
    definition = db.session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if definition is None:
        raise NotFound(f"流程 {process_id} 尚未部署")
    return definition


# Running -------------------------------------------------------------------------------

def _engine(instance: ProcessInstance, user: User | None) -> ScriptEngine:
    def call_service(task: Any, operation: str, params: dict[str, Any]) -> Any:
        context = HandlerContext(instance=instance, user=user, task_bpmn_id=task.task_spec.bpmn_id)
        return call_handler(operation, context, params)

    return ScriptEngine(call_service, timeout=current_app.config["SCRIPT_TIMEOUT_SECONDS"])


def _run(instance: ProcessInstance, user: User | None, step: Callable[[ProcessRuntime], None]) -> ProcessRuntime:
    """Restore, apply `step`, and translate engine failures into a domain error."""
    try:
        runtime = ProcessRuntime.restore(instance.state, _engine(instance, user),
                                         load_definition(instance.definition.bpmn_xml))
        step(runtime)
    except (ServiceTaskFailed, ScriptFailed) as exc:
        log.warning("instance %s: %s", instance.id, exc)
        raise ProcessFailed(f"流程执行失败：{exc}") from exc
    return runtime


def start_instance(
    *,
    process_id: str,
    business_type: str,
    business_id: int,
    owner_id: int | None,
    title: str,
    data: dict[str, Any],
    user: User | None,
) -> ProcessInstance:
    """Start the newest version of a process for a record; joins the caller's transaction."""
    definition = latest_definition(process_id)
    instance = ProcessInstance(
        definition_id=definition.id,
        process_id=process_id,
        business_type=business_type,
        business_id=business_id,
        owner_id=owner_id,
        title=title,
        started_by_id=user.id if user else None,
        state="",
    )
    db.session.add(instance)
    db.session.flush()
    parsed = load_definition(definition.bpmn_xml)
    try:
        runtime = ProcessRuntime.start(parsed, data, _engine(instance, user))
    except (ServiceTaskFailed, ScriptFailed) as exc:
        raise ProcessFailed(f"流程启动失败：{exc}") from exc
    _record(instance, "started", user=user, data=data, task_name=definition.name)
    _save(instance, runtime, user=user, completed_guid=None)
    return instance


def _save(instance: ProcessInstance, runtime: ProcessRuntime, *, user: User | None,
          completed_guid: str | None) -> None:
    """Write the engine state back and bring the inbox rows in step with it."""
    instance.state = runtime.dump()
    due = runtime.next_timer_due()
    instance.next_timer_at = _naive(due)
    instance.error = None
    if runtime.completed and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED.value
        instance.ended_at = clock.utcnow_naive()
        _record(instance, "completed", user=None)
    _sync_inbox(instance, runtime, user=user, completed_guid=completed_guid)


def _sync_inbox(instance: ProcessInstance, runtime: ProcessRuntime, *, user: User | None,
                completed_guid: str | None) -> None:
    open_tasks = {
        t.task_guid: t
        for t in db.session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
        )
    }
    ready = {t.guid: t for t in runtime.ready_user_tasks()}
    now = clock.utcnow_naive()
    for guid, row in open_tasks.items():
        if guid in ready:
            continue
        row.completed_at = now
        if guid == completed_guid:
            row.status = TaskStatus.COMPLETED.value
            row.completed_by_id = user.id if user else None
        else:
            row.status = TaskStatus.CANCELLED.value
            _record(instance, "cancelled", task=row, user=None)
    roles = {r.name: r.code for r in db.session.scalars(select(Role))}
    roles.update({code: code for code in roles.values()})
    for guid, spec in ready.items():
        if guid in open_tasks:
            continue
        assignee_id = None
        if spec.assignee_expression:
            value = runtime.evaluate(guid, spec.assignee_expression)
            assignee_id = int(value) if value not in (None, "") else None
        due_at = spec.timer_due
        if spec.due_expression:
            value = runtime.evaluate(guid, spec.due_expression)
            due_at = datetime.fromisoformat(value) if isinstance(value, str) else due_at
        row = HumanTask(
            instance_id=instance.id,
            task_guid=guid,
            bpmn_id=spec.bpmn_id,
            name=spec.name,
            lane=spec.lane,
            candidate_role=roles.get(spec.lane or ""),
            # A task the diagram gives to a person is his: it is not offered to the lane's role.
            offered=assignee_id is None,
            assignee_id=assignee_id,
            scope_user_id=instance.owner_id,
            form_key=spec.form_key,
            due_at=_naive(due_at) if due_at and due_at.tzinfo else due_at,
        )
        db.session.add(row)
    db.session.flush()


def _record(instance: ProcessInstance, action: str, *, user: User | None, task: HumanTask | None = None,
            data: dict[str, Any] | None = None, comment: str | None = None, task_name: str | None = None) -> None:
    db.session.add(
        ProcessEvent(
            instance_id=instance.id,
            human_task_id=task.id if task else None,
            action=action,
            task_name=task.name if task else task_name,
            user_id=user.id if user else None,
            data=data,
            comment=comment or None,
        )
    )


def _lock(instance_id: int, *, skip_locked: bool = False) -> ProcessInstance | None:
    """Lock an instance row for this transaction (SQLite: BEGIN IMMEDIATE already holds the lock)."""
    query = (
        select(ProcessInstance)
        .where(ProcessInstance.id == instance_id)
        .options(lazyload("*"))
        .execution_options(populate_existing=True)
        .with_for_update(skip_locked=skip_locked, of=ProcessInstance)
    )
    return db.session.scalar(query)


# The inbox -----------------------------------------------------------------------------

def claimable_clause(user: User):
    """Open, unassigned tasks offered to one of the user's roles within his scope."""
    return (
        (HumanTask.status == TaskStatus.OPEN)
        & HumanTask.assignee_id.is_(None)
        & HumanTask.candidate_role.in_(user.role_codes or {""})
        & permissions.scope_clause(user, "task.claim", [HumanTask.scope_user_id])
    )


def visible_task_clause(user: User):
    """Tasks the user may open: his, claimable by him, done by him, or in his process scope."""
    return or_(
        HumanTask.assignee_id == user.id,
        HumanTask.completed_by_id == user.id,
        claimable_clause(user),
        permissions.scope_clause(user, "process.read", [HumanTask.scope_user_id]),
    )


def get_task(*, task_id: int, user: User) -> HumanTask:
    """A task the user may see; NotFound otherwise (never reveals others' tasks)."""
    task = db.session.get(HumanTask, task_id)
    if task is None or not may_see_task(user, task):
        raise NotFound("任务不存在或您无权查看")
    return task


def may_see_task(user: User, task: HumanTask) -> bool:
    """The same rule as visible_task_clause, for one loaded task."""
    return (
        user.id in (task.assignee_id, task.completed_by_id)
        or can_claim(user, task)
        or permissions.in_scope(user, "process.read", [task.scope_user_id])
    )


def can_claim(user: User, task: HumanTask) -> bool:
    return (
        task.status == TaskStatus.OPEN
        and task.assignee_id is None
        and task.candidate_role in user.role_codes
        and permissions.in_scope(user, "task.claim", [task.scope_user_id])
    )


def can_release(user: User, task: HumanTask) -> bool:
    """Only a task the user claimed from his role can go back to the role."""
    return (
        task.status == TaskStatus.OPEN
        and task.assignee_id == user.id
        and task.candidate_role is not None
        and task.offered
    )


def _locked_open_task(task_id: int, user: User) -> tuple[HumanTask, ProcessInstance]:
    task = get_task(task_id=task_id, user=user)
    instance = _lock(task.instance_id)
    db.session.refresh(task)
    if task.status != TaskStatus.OPEN or instance is None:
        who = task.completed_by.full_name if task.completed_by else None
        raise Conflict(f"此任务已由{who}完成" if who else "此任务已结束，无需再处理")
    return task, instance


@unit_of_work
def claim_task(*, task_id: int, user: User) -> HumanTask:
    """Take a task offered to one of the user's roles; commits."""
    task, instance = _locked_open_task(task_id, user)
    if task.assignee_id == user.id:
        return task
    if task.assignee_id is not None:
        raise Conflict(f"此任务已被{task.assignee.full_name if task.assignee else '他人'}认领")
    if not can_claim(user, task):
        raise Forbidden("您不能认领此任务")
    task.assignee_id = user.id
    _record(instance, "claimed", task=task, user=user)
    return task


@unit_of_work
def release_task(*, task_id: int, user: User) -> HumanTask:
    """Give a claimed task back to its candidate role; commits."""
    task, instance = _locked_open_task(task_id, user)
    if not can_release(user, task):
        raise Forbidden("只有认领人可以释放此任务")
    task.assignee_id = None
    _record(instance, "released", task=task, user=user)
    return task


def _ensure_actor(task: HumanTask, instance: ProcessInstance, user: User) -> None:
    if task.assignee_id == user.id:
        return
    if task.assignee_id is None and can_claim(user, task):
        task.assignee_id = user.id  # completing an offered task claims it
        _record(instance, "claimed", task=task, user=user)
        return
    raise Forbidden("此任务不是您的任务")


def form_context(task: HumanTask, user: User) -> FormContext:
    """The record and choices a task's form works with."""
    binding = BUSINESS_TYPES.get(task.instance.business_type or "")
    if binding is None or task.instance.business_id is None:
        return FormContext()
    record = binding.load(task.instance.business_id)
    return FormContext(record=record, choices=binding.form_choices(user, record, task.form_key or ""))


@unit_of_work
def complete_task(*, task_id: int, user: User, data: dict[str, Any], comment: str | None = None) -> HumanTask:
    """Complete a task with form data and run the process on, all in one transaction; commits.

    A second completion (double click, two tabs, two servers) finds the task closed under
    the instance lock and gets Conflict; nothing is applied twice.
    """
    task, instance = _locked_open_task(task_id, user)
    _ensure_actor(task, instance, user)
    form = TASK_FORMS.get(task.form_key or "")
    cleaned = dict(data)
    if form is not None:
        cleaned = form.clean(data, form_context(task, user), final=True)
    guid = task.task_guid

    def step(runtime: ProcessRuntime) -> None:
        if not runtime.is_ready(guid):
            raise Conflict("此任务已结束，无需再处理")
        runtime.complete(guid, cleaned)

    runtime = _run(instance, user, step)
    task.draft = None
    _record(instance, "completed_task", task=task, user=user, data=cleaned, comment=comment)
    _save(instance, runtime, user=user, completed_guid=guid)
    return task


@unit_of_work
def save_draft(*, task_id: int, user: User, data: dict[str, Any]) -> HumanTask:
    """Save a task's form without completing it; its draft handler updates the record; commits."""
    task, instance = _locked_open_task(task_id, user)
    _ensure_actor(task, instance, user)
    form = TASK_FORMS.get(task.form_key or "")
    if form is None or form.draft_handler is None:
        raise Conflict("此任务没有可保存的草稿")
    context = form_context(task, user)
    cleaned = form.clean(data, context, final=False)
    handler_context = HandlerContext(instance=instance, user=user, task_bpmn_id=task.bpmn_id)
    call_handler(form.draft_handler, handler_context, form.draft_params(cleaned, context))
    task.draft = cleaned
    _record(instance, "saved", task=task, user=user, data=cleaned)
    return task


@unit_of_work
def reassign_task(*, task_id: int, user: User, assignee_id: int, comment: str | None = None) -> HumanTask:
    """A supervisor hands an open task to someone else; commits."""
    task, instance = _locked_open_task(task_id, user)
    if not permissions.in_scope(user, "task.reassign", [task.scope_user_id]):
        raise Forbidden("您不能转派此任务")
    target = db.session.get(User, assignee_id)
    if target is None or not target.active:
        raise NotFound("目标用户不存在或已停用")
    if task.candidate_role and task.candidate_role not in target.role_codes:
        message = "转派对象须具有此任务的处理角色"
        raise Invalid(message, {"assignee_id": [message]})
    task.assignee_id = target.id
    _record(instance, "reassigned", task=task, user=user, data={"assignee_id": target.id}, comment=comment)
    return task


# Instances -----------------------------------------------------------------------------

def cancel_instance(*, instance: ProcessInstance, user: User | None, reason: str) -> None:
    """End a running instance and close its open tasks; joins the caller's transaction."""
    locked = _lock(instance.id)
    if locked is None or locked.status != InstanceStatus.RUNNING:
        return
    now = clock.utcnow_naive()
    for task in db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == locked.id, HumanTask.status == TaskStatus.OPEN)
    ):
        task.status = TaskStatus.CANCELLED.value
        task.completed_at = now
    locked.status = InstanceStatus.CANCELLED.value
    locked.ended_at = now
    locked.next_timer_at = None
    _record(locked, "cancelled", user=user, comment=reason)


def get_instance(*, instance_id: int, user: User) -> ProcessInstance:
    """An instance within the user's process scope, or NotFound."""
    instance = db.session.scalar(
        select(ProcessInstance).where(
            ProcessInstance.id == instance_id,
            or_(
                permissions.scope_clause(user, "process.read", [ProcessInstance.owner_id]),
                ProcessInstance.id.in_(
                    select(HumanTask.instance_id).where(
                        or_(HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id)
                    )
                ),
            ),
        )
    )
    if instance is None:
        raise NotFound("流程实例不存在或您无权查看")
    return instance


def history(instance_id: int) -> list[ProcessEvent]:
    return list(
        db.session.scalars(
            select(ProcessEvent).where(ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id)
        )
    )


def instance_variables(instance: ProcessInstance) -> dict[str, Any]:
    """The instance's current process variables (for the instance view)."""
    if not instance.state:
        return {}
    runtime = ProcessRuntime.restore(instance.state, ScriptEngine(), load_definition(instance.definition.bpmn_xml))
    return runtime.last_task_data()


def current_steps(instance: ProcessInstance) -> list[str]:
    """BPMN ids of the steps the instance waits in (for the highlighted diagram)."""
    return list(
        db.session.scalars(
            select(HumanTask.bpmn_id).where(
                HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN
            )
        )
    )


def instance_tasks(instance_id: int) -> list[HumanTask]:
    """Every inbox row an instance has had, oldest first (open, completed and cancelled)."""
    return list(
        db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.id))
    )


# Timers --------------------------------------------------------------------------------

def due_instance_ids(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    moment = now or clock.utcnow_naive()
    return list(
        db.session.scalars(
            select(ProcessInstance.id)
            .where(ProcessInstance.next_timer_at <= moment, ProcessInstance.status == InstanceStatus.RUNNING)
            .order_by(ProcessInstance.next_timer_at)
            .limit(limit)
        )
    )


def fire_timers(*, instance_id: int) -> bool:
    """Advance one instance whose timer is due; commits. False when another scheduler got it first."""
    try:
        instance = _lock(instance_id, skip_locked=True)
        now = clock.utcnow_naive()
        if (
            instance is None
            or instance.status != InstanceStatus.RUNNING
            or instance.next_timer_at is None
            or instance.next_timer_at > now
        ):
            db.session.rollback()
            return False
        runtime = _run(instance, None, lambda r: r.advance())
        _record(instance, "timer", user=None, data={"due": instance.next_timer_at.isoformat()})
        _save(instance, runtime, user=None, completed_guid=None)
        db.session.commit()
        return True
    except Exception as exc:  # keep the failure on the instance; the scheduler goes on with others
        db.session.rollback()
        log.exception("timer of instance %s failed", instance_id)
        _record_incident(instance_id, getattr(exc, "message", None) or str(exc))
        return False


def _record_incident(instance_id: int, message: str) -> None:
    """Keep the failure on the instance and retry later instead of spinning on it."""
    instance = _lock(instance_id)
    if instance is None:
        db.session.rollback()
        return
    instance.error = message[:2000]
    instance.next_timer_at = clock.utcnow_naive() + timedelta(minutes=5)
    _record(instance, "incident", user=None, comment=message[:2000])
    db.session.commit()


def fire_due_timers(*, now: datetime | None = None, limit: int = 200) -> int:
    """Advance every instance whose earliest timer is due; returns how many were advanced."""
    ids = due_instance_ids(now=now, limit=limit)
    db.session.rollback()  # end the read transaction; each instance gets its own
    return sum(1 for instance_id in ids if fire_timers(instance_id=instance_id))

