"""What goes with a customer to a new account manager (客户转移), as the record registry declares it.

Records read through their customer (contacts, interactions, orders, attachments, quotes) follow it by
themselves. Beyond those, each record type's `Handover` names the rows that change hands (care still to
give, open churn warnings), and the previous owner's open process tasks about any of the customer's
records go to the new owner, with a history line. Everything else stays: finished records keep who
did them, opportunities stay with their assignee and a quote's author still reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select

from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import Customer, HumanTask, ProcessInstance, TaskStatus, User
from bpm_crm.services import human_tasks
from bpm_crm.services.records import RECORDS

TASKS = "task"
TASKS_LABEL = _("原客户经理在此客户流程中的待办任务")


@dataclass(frozen=True)
class HandedOver:
    """One kind of work that moves with the customer, and how much of it."""

    key: str  # the record type's key, or "task" for process tasks
    label: str
    count: int


def _customer_instances(customer_id: int) -> ColumnElement[bool]:
    """Process instances run for the customer or for any record that belongs to it."""
    clauses: list[ColumnElement[bool]] = []
    for record_type in RECORDS.types():
        column = record_type.customer_column
        if column is None:
            continue
        model: Any = record_type.model
        if column == "id":
            owned: Any = [customer_id]
        else:
            owned = select(model.id).where(getattr(model, column) == customer_id)
        clauses.append(and_(ProcessInstance.business_type == record_type.key, ProcessInstance.business_id.in_(owned)))
    return or_(*clauses) if clauses else false()


def _open_tasks(customer_id: int, owner_id: int | None) -> Any:
    return (select(HumanTask).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
            .where(HumanTask.status == TaskStatus.OPEN, HumanTask.assignee_id == owner_id,
                   _customer_instances(customer_id)))


def _count(query: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def preview(*, customer: Customer) -> list[HandedOver]:
    """What transferring this customer would give its new manager now, kind by kind (the transfer dialog)."""
    items = []
    for record_type in RECORDS.types():
        if record_type.handover is not None:
            model: Any = record_type.model
            query = select(model.id).where(record_type.handover.pending(customer.id, customer.owner_id))
            items.append(HandedOver(record_type.key, str(record_type.handover.label), _count(query)))
    if customer.owner_id is not None:
        items.append(HandedOver(TASKS, str(TASKS_LABEL), _count(_open_tasks(customer.id, customer.owner_id))))
    return items


def rules() -> list[str]:
    """The kinds of work that follow a customer, for a dialog that moves several customers at once."""
    return [str(rt.handover.label) for rt in RECORDS.types() if rt.handover is not None] + [str(TASKS_LABEL)]


def hand_over(*, customer: Customer, from_user_id: int | None, to_user_id: int, user: User,
              comment: str | None = None) -> list[HandedOver]:
    """Give the customer's pending work of the previous owner to the new one; joins the caller's transaction."""
    moved = []
    for record_type in RECORDS.types():
        rule = record_type.handover
        if rule is None:
            continue
        query: Any = select(record_type.model).where(rule.pending(customer.id, from_user_id))
        if rule.move is None:
            moved.append(HandedOver(record_type.key, str(rule.label), _count(query)))
            continue
        rows = list(db.session.scalars(query.with_for_update()))
        for row in rows:
            rule.move(row, to_user_id)
            if hasattr(row, "updated_by_id"):
                row.updated_by_id = user.id
        moved.append(HandedOver(record_type.key, str(rule.label), len(rows)))
    if from_user_id is None:
        return moved
    instances = list(db.session.scalars(
        select(ProcessInstance).where(_customer_instances(customer.id), ProcessInstance.owner_id == from_user_id)
        .with_for_update()))
    for instance in instances:
        # Tasks still offered to a group are now in the new owner's data scope (his supervisor may take them).
        instance.owner_id = to_user_id
        for task in db.session.scalars(select(HumanTask).where(
                HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN,
                HumanTask.scope_user_id == from_user_id)):
            task.scope_user_id = to_user_id
    open_tasks = db.session.execute(_open_tasks(customer.id, from_user_id).add_columns(ProcessInstance)
                                    .with_for_update(of=[HumanTask, ProcessInstance])).all()
    for task, instance in open_tasks:
        human_tasks.hand_over(task, instance, to_user_id=to_user_id, by=user, comment=comment)
    moved.append(HandedOver(TASKS, str(TASKS_LABEL), len(open_tasks)))
    return moved
