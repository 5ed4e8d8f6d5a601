"""User tasks: who may see and act on them, and the actions — claim, release, complete, draft, reassign.

`actions` is the one answer to "what may this user do to this task now", used by the task page
and the API alike. Completing validates the submission against the task's form definition
(bpm_crm.forms.schema) and runs the process on in the same transaction; a second completion
finds the task closed under the instance lock and gets Conflict.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, false, or_, select
from sqlalchemy.orm import joinedload

from bpm_crm.engine.approval import vote_variable
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db, hold
from bpm_crm.forms.schema import FormSchema
from bpm_crm.models import (
    CandidateKind,
    HumanTask,
    Notification,
    ProcessInstance,
    TaskCandidate,
    TaskStatus,
    TaskWatcher,
    User,
)
from bpm_crm.services import definitions, instances, option_sources, permissions
from bpm_crm.services.records import RECORDS
from bpm_crm.services.transaction import unit_of_work

ADMIN_ROLE = "admin"  # who is offered a task nobody else can take

ACTION_ORDER = ("claim", "release", "complete", "draft", "reassign")
MAX_COMMENT = 2000  # a comment on a step (处理意见, 审批意见, a reason), in characters


def comment_text(text: str | None, *, required: bool = False, field: str = "comment") -> str | None:
    """A step's comment as kept: trimmed, None when empty; Invalid on `field` when missing but required or too long."""
    value = (text or "").replace("\r\n", "\n").strip()  # a browser sends a line break typed as one character as two
    if required and not value:
        raise Invalid("请填写意见", {field: ["请填写意见"]}, code="comment_required")
    if len(value) > MAX_COMMENT:
        raise Invalid("意见最多 2000 个字符", {field: ["意见最多 2000 个字符"]})
    return value or None


# Who sees what ---------------------------------------------------------------------------

def headed_department_ids(user: User) -> list[str]:
    """Departments the user heads, as candidate values."""
    return [str(dept_id) for dept_id in permissions.headed_department_ids(user)]


def _candidate(kind: CandidateKind, values: list[str]) -> ColumnElement[bool]:
    if not values:
        return false()
    return exists().where(TaskCandidate.task_id == HumanTask.id, TaskCandidate.kind == kind.value,
                          TaskCandidate.value.in_(values))


def claimable_clause(user: User) -> ColumnElement[bool]:
    """Open, unassigned tasks offered to the user: by name, to his department as its head, or to his roles in scope."""
    by_role = and_(_candidate(CandidateKind.ROLE, sorted(permissions.role_codes(user))),
                   permissions.scope_clause(user, "task.claim", [HumanTask.scope_user_id]))
    return and_(
        HumanTask.status == TaskStatus.OPEN, HumanTask.assignee_id.is_(None),
        or_(_candidate(CandidateKind.USER, [str(user.id)]),
            _candidate(CandidateKind.DEPARTMENT, headed_department_ids(user)), by_role),
    )


def watched_clause(user: User) -> ColumnElement[bool]:
    return exists().where(TaskWatcher.task_id == HumanTask.id, TaskWatcher.user_id == user.id)


def visible_task_clause(user: User) -> ColumnElement[bool]:
    """Tasks the user may open: his, offered to him, done by him, watched by him, or in his process scope."""
    return or_(
        HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id, claimable_clause(user),
        watched_clause(user), permissions.scope_clause(user, "process.read", [HumanTask.scope_user_id]),
    )


def involved_instance_ids(user: User) -> Any:
    """A subquery of the instances the user works or worked on, or watches."""
    return select(HumanTask.instance_id).where(or_(
        HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id, watched_clause(user)))


def can_claim(user: User, task: HumanTask) -> bool:
    """The rule of claimable_clause, for one loaded task."""
    if task.status != TaskStatus.OPEN or task.assignee_id is not None:
        return False
    if str(user.id) in task.candidate_values(CandidateKind.USER):
        return True
    departments = task.candidate_values(CandidateKind.DEPARTMENT)
    if departments and set(departments) & set(headed_department_ids(user)):
        return True
    return bool(set(task.candidate_roles) & permissions.role_codes(user)) and permissions.in_scope(
        user, "task.claim", [task.scope_user_id])


def is_watcher(user: User, task: HumanTask) -> bool:
    return any(watcher.user_id == user.id for watcher in task.watchers)


def may_see_task(user: User, task: HumanTask) -> bool:
    """The rule of visible_task_clause, for one loaded task."""
    return (user.id in (task.assignee_id, task.completed_by_id) or can_claim(user, task) or is_watcher(user, task)
            or permissions.in_scope(user, "process.read", [task.scope_user_id]))


def can_release(user: User, task: HumanTask) -> bool:
    """Only a task the user claimed from its candidates can go back to them."""
    return task.status == TaskStatus.OPEN and task.assignee_id == user.id and task.offered and bool(task.candidates)


def may_reassign(user: User, task: HumanTask) -> bool:
    return task.status == TaskStatus.OPEN and permissions.in_scope(user, "task.reassign", [task.scope_user_id])


def actions(user: User, task: HumanTask) -> list[str]:
    """What the user may do to the task now — the page and the API show exactly these."""
    if task.status != TaskStatus.OPEN:
        return []
    allowed: set[str] = set()
    claimable = can_claim(user, task)
    if claimable:
        allowed.add("claim")
    if can_release(user, task):
        allowed.add("release")
    if task.assignee_id == user.id or claimable:
        allowed |= {"complete", "draft"} if task.form_key else {"complete"}
    if may_reassign(user, task):
        allowed.add("reassign")
    return [name for name in ACTION_ORDER if name in allowed]


def approval_step(task: HumanTask) -> str | None:
    """The approval step (审批节点) a task belongs to, or None for an ordinary task."""
    properties = definitions.version(task.instance.definition_id).parsed.user_tasks.get(task.bpmn_id, {})
    return properties.get("approval_step")


def latest_open_task(instance_id: int | None) -> HumanTask | None:
    """The newest open task of a process instance: the step a record's process waits in."""
    if instance_id is None:
        return None
    return db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.id.desc()).limit(1))


def get_task(*, task_id: int, user: User) -> HumanTask:
    """A task the user may see; NotFound otherwise (never reveals others' tasks)."""
    task = db.session.get(HumanTask, task_id)
    if task is None or not may_see_task(user, task):
        raise NotFound("任务不存在或您无权查看")
    return task


def task_record(task: HumanTask) -> Any:
    """The business record a task is about; whoever may see the task may read it through the task."""
    instance = task.instance
    record_type = RECORDS.find(instance.business_type)
    if record_type is None or instance.business_id is None:
        return None
    return record_type.get(instance.business_id)


# The task's form ----------------------------------------------------------------------------

@dataclass
class TaskForm:
    """What renders and checks a task's form: its definition, the data it opens with and its option lists."""

    schema: FormSchema | None
    data: dict[str, Any] = field(default_factory=dict)
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def definition(self) -> dict[str, Any] | None:
        return self.schema.raw if self.schema else None


def form_for(task: HumanTask, user: User) -> TaskForm:
    """The task's form as `user` opens it: process data, then his saved draft, and the options he may pick."""
    schema = definitions.version(task.instance.definition_id).form(task.form_key)
    if schema is None:
        return TaskForm(schema=None)
    options = option_sources.resolve(schema.option_keys(), user) if task.status == TaskStatus.OPEN else {}
    data = {**(task.input_data or {}), **(task.draft or {}), **options}
    return TaskForm(schema=schema, data=data, options=options)


def _clean(task: HumanTask, user: User, data: Any, *, final: bool) -> dict[str, Any]:
    schema = definitions.version(task.instance.definition_id).form(task.form_key)
    if schema is None:
        if data not in ({}, None):
            raise Invalid("此任务没有表单，不接受数据", {"data": ["此任务没有表单，不接受数据"]}, code="no_form")
        return {}
    initial = task.input_data or {}
    # Only the options the submission could name are looked up: enough to check it, and far cheaper.
    options = option_sources.resolve(schema.option_keys(), user, among=option_sources.Chosen.of(data, initial))
    return schema.clean(data, initial=initial, options=options, final=final)


# Acting on a task ------------------------------------------------------------------------------

@functools.cache
def _locked_task_statement() -> Select:
    """The statement of locked_open_task, built once (every step of every process runs it)."""
    return (select(HumanTask, ProcessInstance).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
            .where(HumanTask.id == bindparam("task_id")).with_for_update(of=[HumanTask, ProcessInstance])
            .options(joinedload(HumanTask.candidates), joinedload(HumanTask.watchers))
            .execution_options(populate_existing=True))


def locked_open_task(task_id: int, user: User) -> tuple[HumanTask, ProcessInstance]:
    """The visible task, with its instance row locked; Conflict when it is no longer open.

    One statement loads the task and locks both rows: a concurrent completion waits here and then
    reads the task as the other transaction left it.
    """
    row = db.session.execute(_locked_task_statement(), {"task_id": task_id}).unique().first()
    if row is None or not may_see_task(user, row[0]):
        raise NotFound("任务不存在或您无权查看")
    task, instance = row
    if task.status != TaskStatus.OPEN:
        who = task.completed_by.full_name if task.completed_by else None
        if who:
            raise Conflict("此任务已由%(name)s完成", code="task_closed", name=who)
        raise Conflict("此任务已结束，无需再处理", code="task_closed")
    return task, instance


@unit_of_work
def claim_task(*, task_id: int, user: User) -> HumanTask:
    """Take a task offered to the user; commits."""
    task, instance = locked_open_task(task_id, user)
    if task.assignee_id == user.id:
        return task
    if task.assignee_id is not None:
        raise Conflict("此任务已被%(name)s认领", code="task_claimed",
                       name=task.assignee.full_name if task.assignee else "他人")
    if not can_claim(user, task):
        raise Forbidden("您不能认领此任务")
    task.assignee_id = user.id
    instances.record(instance, "claimed", task=task, user=user)
    return task


@unit_of_work
def release_task(*, task_id: int, user: User) -> HumanTask:
    """Give a claimed task back to its candidates; commits."""
    task, instance = locked_open_task(task_id, user)
    if not can_release(user, task):
        raise Forbidden("只有认领人可以释放此任务")
    task.assignee_id = None
    instances.record(instance, "released", task=task, user=user)
    return task


def _ensure_actor(task: HumanTask, instance: ProcessInstance, user: User) -> None:
    if task.assignee_id == user.id:
        return
    if task.assignee_id is None and can_claim(user, task):
        task.assignee_id = user.id  # completing an offered task claims it (the completion is its history line)
        return
    raise Forbidden("此任务不是您的任务")


@unit_of_work
def complete_task(*, task_id: int, user: User, data: Any, comment: str | None = None,
                  on_behalf: bool = False) -> HumanTask:
    """Complete a task with its form's data and run the process on, in one transaction; commits.

    `on_behalf`: the caller has checked that the user may act on the task's record (a supervisor recording a
    measure on his account manager's churn warning), so the task need not be his.
    """
    comment = comment_text(comment)
    task, instance = locked_open_task(task_id, user)
    # The record the process works on, loaded before anything is pending: its handlers find it without
    # writing first, so everything the completion changes is written in one flush, and the answer shows it.
    hold(task_record(task))
    if not on_behalf:
        _ensure_actor(task, instance, user)
    with db.session.no_autoflush:  # the claim above is written with the completion, in one UPDATE
        cleaned = _clean(task, user, data, final=True)
    step_id = approval_step(task)
    if step_id is not None:
        # The step counts votes: who decided what, with the comment (the completion condition reads them).
        cleaned[vote_variable(step_id)] = {"approver": user.id, "decision": cleaned.get("decision"),
                                           "comment": cleaned.get("comment")}
    guid = task.task_guid
    open_rows: dict[str, HumanTask] | None = None

    def step(runtime: Any) -> None:
        nonlocal open_rows
        if not runtime.is_ready(guid):
            raise Conflict("此任务已结束，无需再处理", code="task_closed")
        if runtime.ready_user_task_guids() == {guid}:
            open_rows = {guid: task}  # the inbox holds a row per ready task: this one is the instance's only
        runtime.complete(guid, cleaned)

    # Recorded before the run: what the completion sets off (the next step's approvers, who are not asked
    # twice; the approval trail a printed quote carries) already counts this decision.
    instances.record(instance, "completed_task", task=task, user=user, data=cleaned, comment=comment)
    runtime = instances.run(instance, user, step)
    task.draft = None
    instances.save(instance, runtime, user=user, completed_guid=guid, open_rows=open_rows)
    return task


@unit_of_work
def save_draft(*, task_id: int, user: User, data: Any) -> HumanTask:
    """Keep the form's data on the task without completing it (checked for types, not for completeness); commits."""
    task, instance = locked_open_task(task_id, user)
    _ensure_actor(task, instance, user)
    if not task.form_key:
        raise Conflict("此任务没有可保存的草稿")
    task.draft = _clean(task, user, data, final=False)
    instances.record(instance, "saved", task=task, user=user, data=task.draft)
    return task


def reassign_targets(user: User, task: HumanTask) -> list[User]:
    """People the user may hand the task to: active, in his reassign scope, holding the task's role."""
    if not may_reassign(user, task):
        return []
    scope = permissions.scope_for(user, "task.reassign")
    ids = permissions.visible_owner_ids(user, scope) if scope is not None else set()
    query = select(User).where(User.active.is_(True), User.id.not_in([user.id, task.assignee_id or 0]))
    if ids is not None:
        query = query.where(User.id.in_(ids))
    roles = _required_roles(task)
    people = list(db.session.scalars(query.order_by(User.department_id, User.full_name)))
    return [person for person in people if not roles or roles & person.role_codes]


def _required_roles(task: HumanTask) -> set[str]:
    lane_role = definitions.version(task.instance.definition_id).lane_roles.get(task.lane or "")
    return set(task.candidate_roles) or ({lane_role} if lane_role else set())


@unit_of_work
def reassign_task(*, task_id: int, user: User, assignee_id: int, comment: str | None = None) -> HumanTask:
    """Hand an open task to someone in the user's scope (转派); the work and the record follow; commits."""
    comment = comment_text(comment)
    task, instance = locked_open_task(task_id, user)
    if not may_reassign(user, task):
        raise Forbidden("您不能转派此任务")
    target = db.session.get(User, assignee_id)
    if target is None or not target.active:
        raise NotFound("目标用户不存在或已停用")
    if target.id not in {person.id for person in reassign_targets(user, task)}:
        message = "转派对象须在您的管理范围内并具有此任务的处理角色"
        raise Invalid(message, {"assignee_id": [message]}, code="reassign_target")
    hand_over(task, instance, to_user_id=target.id, by=user, comment=comment)
    return task


def hand_over(task: HumanTask, instance: ProcessInstance, *, to_user_id: int, by: User | None,
              comment: str | None = None, kind: str = "task_assigned") -> None:
    """Give an open, locked task to another person: the process variable, the record, history, a notice.

    The caller checked that the move is allowed (转派, or a customer transfer taking its work along).
    """
    previous = task.assignee_id
    task.assignee_id = to_user_id
    variable = task.assignee_variable
    if variable:
        # Later steps read the same variable: they go to the new assignee too.
        runtime = instances.run(instance, by, lambda r: r.set_task_data(task.task_guid, variable, to_user_id))
        instance.state = runtime.dump()
    record_type = RECORDS.find(instance.business_type)
    if record_type is not None and record_type.on_reassign is not None and instance.business_id is not None:
        record = record_type.get(instance.business_id)
        if record is not None:
            record_type.on_reassign(record, previous, to_user_id)
    instances.record(instance, "reassigned", task=task, user=by, data={"assignee_id": to_user_id,
                                                                        "from": previous}, comment=comment)
    db.session.add(Notification(user_id=to_user_id, kind=kind, title=task.name, task_id=task.id,
                                instance_id=instance.id, body=comment))


def hand_over_from_leaver(leaver: User, *, by: User | None) -> int:
    """A person leaves (停用): his open tasks go to his superior, else back to their candidates (the administrators
    when the task was his alone); joins the caller.

    An approval waiting on him is not stuck and not silently passed: his superior decides in his place.
    """
    successor = db.session.get(User, leaver.superior_id) if leaver.superior_id else None
    if successor is not None and not successor.active:
        successor = None
    tasks = list(db.session.scalars(select(HumanTask).where(
        HumanTask.assignee_id == leaver.id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))
    for task in tasks:
        instance = instances.lock(task.instance_id)
        if instance is None:
            continue
        if successor is not None:
            hand_over(task, instance, to_user_id=successor.id, by=by, comment=f"{leaver.full_name} 已停用")
        else:
            task.assignee_id = None
            if not task.candidates:  # given to him alone: offered to the administrators, never left to nobody
                task.candidates.append(TaskCandidate(kind=CandidateKind.ROLE.value, value=ADMIN_ROLE))
            instances.record(instance, "released", task=task, user=by, data={"from": leaver.id})
    return len(tasks)


@unit_of_work
def add_watchers(*, task_id: int, user: User, user_ids: list[int]) -> HumanTask:
    """Copy people on a task (抄送): they see it and its record read-only; commits."""
    task, instance = locked_open_task(task_id, user)
    if task.assignee_id != user.id and not may_reassign(user, task):
        raise Forbidden("您不能为此任务添加抄送人")
    present = {watcher.user_id for watcher in task.watchers}
    for person in db.session.scalars(select(User).where(User.id.in_(user_ids), User.active.is_(True))):
        if person.id not in present:
            task.watchers.append(TaskWatcher(user_id=person.id, added_by_id=user.id))
            db.session.add(Notification(user_id=person.id, kind="cc", title=task.name, task_id=task.id,
                                        instance_id=instance.id))
    instances.record(instance, "watchers_added", task=task, user=user, data={"user_ids": sorted(user_ids)})
    return task
