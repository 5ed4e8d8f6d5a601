"""The task inbox: my tasks, tasks my roles may claim, both together (the landing view), approvals waiting for
me, requests I started, copies, tasks done; their counts and filters (process, record text, overdue)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from bpm_crm import clock
from bpm_crm.engine.approval import approver_variable
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskStatus, User
from bpm_crm.services.human_tasks import claimable_clause, watched_clause
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.records import RECORDS

# Views of tasks. "todo": everything waiting for the user, his own tasks and those offered to him (the
# navigation badge); "approvals": the approval steps assigned to him. The requests he started are
# instances, not tasks: list_started.
VIEWS = ("todo", "approvals", "mine", "claimable", "watched", "done")
MAX_QUERY = 100


@dataclass(frozen=True)
class InboxCounts:
    mine: int
    claimable: int
    watched: int
    overdue: int  # of the "todo" tasks: his own and those offered to him

    @property
    def todo(self) -> int:
        """What waits for the user: his tasks and the ones he may take (the navigation badge)."""
        return self.mine + self.claimable


@dataclass(frozen=True)
class TabCounts:
    """The counts only the inbox's own tabs show (the navigation needs none of them)."""

    approvals: int
    started: int  # his requests still running
    done: int


def approval_task_clause() -> ColumnElement[bool]:
    """Inbox rows of approval steps (审批节点).

    Each approver's task of a step takes its person from the variable engine.approval.approver_variable
    names after the step, and the row keeps that variable's name: one comparison on the row finds them.
    """
    return HumanTask.assignee_variable == HumanTask.bpmn_id + approver_variable("")


def todo_clause(user: User) -> ColumnElement[bool]:
    """What waits for the user: his open tasks and those offered to him (by name, department or role)."""
    return or_(and_(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN), claimable_clause(user))


def _query(user: User, view: str) -> Select:
    if view == "todo":
        return (
            select(HumanTask).where(todo_clause(user))
            .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
        )
    if view == "claimable":
        return select(HumanTask).where(claimable_clause(user)).order_by(HumanTask.created_at)
    if view == "watched":
        return (
            select(HumanTask).where(watched_clause(user), HumanTask.status == TaskStatus.OPEN)
            .order_by(HumanTask.created_at.desc())
        )
    if view == "done":
        return (
            select(HumanTask)
            .where(HumanTask.completed_by_id == user.id, HumanTask.status == TaskStatus.COMPLETED)
            .order_by(HumanTask.completed_at.desc())
        )
    query = select(HumanTask).where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN)
    if view == "approvals":
        query = query.where(approval_task_clause())
    return query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)


def _with_rows(query: Select) -> Select:
    """Load what an inbox row shows in two extra queries, not one per row (and not the state blob)."""
    return query.options(
        selectinload(HumanTask.instance).defer(ProcessInstance.state),
        selectinload(HumanTask.assignee),
    )


def _record_text(text: str | None) -> str | None:
    value = (text or "").strip()[:MAX_QUERY]
    return f"%{value}%" if value else None


def list_tasks(
    *, user: User, view: str = "mine", process_id: str | None = None, overdue: bool = False, q: str | None = None,
    page: int = 1, per_page: int = 20,
) -> Page:
    """One page of a task view (todo / approvals / mine / claimable / watched / done), filtered.

    `q` finds the record a request is about by its title (number, name, customer).
    """
    query = _query(user, view if view in VIEWS else "mine")
    like = _record_text(q)
    if process_id or like:
        query = query.join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if like:
        query = query.where(ProcessInstance.title.ilike(like))
    if overdue:
        query = query.where(HumanTask.due_at < clock.utcnow_naive())
    return paginate(_with_rows(query), page=page, per_page=per_page)


def _started_query(user: User) -> Select:
    return select(ProcessInstance).where(ProcessInstance.started_by_id == user.id)


def list_started(
    *, user: User, process_id: str | None = None, overdue: bool = False, q: str | None = None,
    page: int = 1, per_page: int = 20,
) -> Page:
    """One page of the requests the user started, running ones first, newest first; filtered like the tasks."""
    query = _started_query(user)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    like = _record_text(q)
    if like:
        query = query.where(ProcessInstance.title.ilike(like))
    if overdue:
        query = query.where(exists().where(
            HumanTask.instance_id == ProcessInstance.id, HumanTask.status == TaskStatus.OPEN,
            HumanTask.due_at < clock.utcnow_naive()))
    query = query.order_by((ProcessInstance.status != InstanceStatus.RUNNING.value), ProcessInstance.id.desc())
    return paginate(query.options(selectinload(ProcessInstance.definition)), page=page, per_page=per_page)


def waiting_tasks(instance_ids: list[int]) -> dict[int, list[HumanTask]]:
    """The open tasks of each instance (its current steps and who they wait for), in one query."""
    waiting: dict[int, list[HumanTask]] = {instance_id: [] for instance_id in instance_ids}
    if not instance_ids:
        return waiting
    rows = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id.in_(instance_ids), HumanTask.status == TaskStatus.OPEN)
        .options(selectinload(HumanTask.assignee)).order_by(HumanTask.id))
    for task in rows:
        waiting[task.instance_id].append(task)
    return waiting


def record_statuses(instances: list[ProcessInstance]) -> dict[int, str | None]:
    """The status of the record each instance is about (报价 已批准 …), one query per record type."""
    wanted: dict[str, set[int]] = {}
    for instance in instances:
        if instance.business_type and instance.business_id is not None:
            wanted.setdefault(instance.business_type, set()).add(instance.business_id)
    found: dict[tuple[str, int], str | None] = {}
    for key, ids in wanted.items():
        record_type = RECORDS.find(key)
        if record_type is None or not hasattr(record_type.model, "status"):
            continue
        model: Any = record_type.model
        for record_id, status in db.session.execute(select(model.id, model.status).where(model.id.in_(ids))):
            found[(key, record_id)] = status
    return {instance.id: found.get((instance.business_type or "", instance.business_id or 0))
            for instance in instances}


def process_choices() -> list[tuple[str, str, int]]:
    """Every deployed process as (process id, name, id of its newest version), by name, for the filter."""
    newest = select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("version")) \
        .group_by(ProcessDefinition.process_id).subquery()
    rows = db.session.execute(select(ProcessDefinition.process_id, ProcessDefinition.name, ProcessDefinition.id)
                              .join(newest, and_(ProcessDefinition.process_id == newest.c.process_id,
                                                 ProcessDefinition.version == newest.c.version))
                              .order_by(ProcessDefinition.name)).all()
    return [(process_id, name, definition_id) for process_id, name, definition_id in rows]


def _count(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def counts(*, user: User) -> InboxCounts:
    """Badge counts for the navigation and the inbox tabs."""
    now = clock.utcnow_naive()
    mine = select(HumanTask.id).where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN)
    claimable = select(HumanTask.id).where(claimable_clause(user))
    watched = select(HumanTask.id).where(watched_clause(user), HumanTask.status == TaskStatus.OPEN)
    # Overdue counts everything waiting for him, offered or assigned: the "todo" view with the overdue filter.
    overdue = select(HumanTask.id).where(todo_clause(user), HumanTask.due_at < now)
    return InboxCounts(mine=_count(mine), claimable=_count(claimable), watched=_count(watched),
                       overdue=_count(overdue))


def tab_counts(*, user: User) -> TabCounts:
    """The counts of the approval tabs: approvals waiting for him, his running requests, tasks he completed."""
    approvals = select(HumanTask.id).where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN,
                                           approval_task_clause())
    started = select(ProcessInstance.id).where(ProcessInstance.started_by_id == user.id,
                                               ProcessInstance.status == InstanceStatus.RUNNING.value)
    done = select(HumanTask.id).where(HumanTask.completed_by_id == user.id, HumanTask.status == TaskStatus.COMPLETED)
    return TabCounts(approvals=_count(approvals), started=_count(started), done=_count(done))


def is_overdue(task: HumanTask) -> bool:
    return task.status == TaskStatus.OPEN and task.due_at is not None and task.due_at < clock.utcnow_naive()
