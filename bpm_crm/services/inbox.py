"""The task inbox: my tasks, tasks my roles may claim, counts."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, ProcessInstance, TaskStatus, User
from bpm_crm.services.human_tasks import claimable_clause, watched_clause
from bpm_crm.services.paging import Page, paginate

VIEWS = ("mine", "claimable", "watched", "done")


@dataclass(frozen=True)
class InboxCounts:
    mine: int
    claimable: int
    watched: int
    overdue: int


def _query(user: User, view: str) -> Select:
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
    return (
        select(HumanTask)
        .where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
    )


def _with_rows(query: Select) -> Select:
    """Load what an inbox row shows in two extra queries, not one per row (and not the state blob)."""
    return query.options(
        selectinload(HumanTask.instance).defer(ProcessInstance.state),
        selectinload(HumanTask.assignee),
    )


def list_tasks(
    *, user: User, view: str = "mine", process_id: str | None = None, overdue: bool = False,
    page: int = 1, per_page: int = 20,
) -> Page:
    """One page of the user's inbox view (mine / claimable / done)."""
    query = _query(user, view if view in VIEWS else "mine")
    if process_id:
        query = query.join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id).where(
            ProcessInstance.process_id == process_id
        )
    if overdue:
        query = query.where(HumanTask.due_at < clock.utcnow_naive())
    return paginate(_with_rows(query), page=page, per_page=per_page)


def counts(*, user: User) -> InboxCounts:
    """Badge counts for the navigation and the inbox tabs."""
    now = clock.utcnow_naive()
    mine = select(HumanTask.id).where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN)
    claimable = select(HumanTask.id).where(claimable_clause(user))
    watched = select(HumanTask.id).where(watched_clause(user), HumanTask.status == TaskStatus.OPEN)
    overdue = mine.where(HumanTask.due_at < now)

    def count(q: Select) -> int:
        return db.session.scalar(select(func.count()).select_from(q.subquery())) or 0

    return InboxCounts(mine=count(mine), claimable=count(claimable), watched=count(watched), overdue=count(overdue))


def is_overdue(task: HumanTask) -> bool:
    return task.status == TaskStatus.OPEN and task.due_at is not None and task.due_at < clock.utcnow_naive()
