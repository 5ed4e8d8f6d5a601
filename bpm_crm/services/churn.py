"""Churn warning use cases (流失预警): raise, record measures, confirm the churn or recover the customer.

预警 → 暂缓流失 (the first measure) → 确认流失 (with a reason; the customer becomes 已流失) or 已恢复.
Each warning runs the `churn` process (客户流失处理, processes/churn.bpmn): the weekly scan raises most
of them (bpm_crm.services.churn_scan), a person may raise one by hand. The actions here drive that
process — a measure or the confirmation completes its open task, 客户已恢复 sends it the new-order
message — so the inbox, the history and the record never disagree. A warning without a running process
(raised before processes, or restored from the recycle bin) is changed directly.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from bpm_crm.errors import Conflict, Forbidden, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.churn import CHURN_WARNING, CONFIRMATION, MEASURE
from bpm_crm.forms.rules import check
from bpm_crm.models import (
    ChurnMeasure,
    ChurnStatus,
    ChurnWarning,
    Customer,
    CustomerStatus,
    HumanTask,
    InstanceStatus,
    Order,
    ProcessInstance,
    User,
)
from bpm_crm.models.base import utcnow
from bpm_crm.services import churn_scan, human_tasks, instances, permissions, recycle
from bpm_crm.services.customer_records import customer_label, writable_customer
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

READ, WRITE = "churn.read", "churn.update"
OPEN_STATUSES = (ChurnStatus.WARNING.value, ChurnStatus.DEFERRED.value)
STATUSES = [status.value for status in ChurnStatus]


def _visible(user: User) -> Select:
    permissions.require(user, READ)
    return (select(ChurnWarning).join(ChurnWarning.customer)
            .where(permissions.via_customer(user, ChurnWarning.customer_id))
            .options(joinedload(ChurnWarning.customer), joinedload(ChurnWarning.manager)))


def get_warning(*, warning_id: int, user: User) -> ChurnWarning:
    """A churn warning whose customer the user may read, with its measures; NotFound otherwise."""
    warning = db.session.scalar(_visible(user).where(ChurnWarning.id == warning_id)
                                .options(selectinload(ChurnWarning.measures).joinedload(ChurnMeasure.author)))
    if warning is None:
        raise NotFound("流失预警不存在或您无权查看")
    return warning


def list_warnings(*, user: User, q: str | None = None, status: str | None = None, manager_id: int | None = None,
                  customer_id: int | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Visible churn warnings, newest first, filtered by status, account manager or customer."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Customer.name.ilike(like), Customer.number.ilike(like)))
    if status:
        query = query.where(ChurnWarning.status == status)
    if manager_id is not None:
        query = query.where(ChurnWarning.manager_id == manager_id)
    if customer_id is not None:
        query = query.where(ChurnWarning.customer_id == customer_id)
    query = query.options(selectinload(ChurnWarning.measures).joinedload(ChurnMeasure.author))
    return paginate(query.order_by(ChurnWarning.id.desc()), page=page, per_page=per_page)


def export_warnings(*, user: User, limit: int, **filters: Any) -> list[ChurnWarning]:
    """Every visible churn warning matching the list filters (up to `limit`), for a download."""
    permissions.require(user, "customer.export")
    return list_warnings(user=user, page=1, per_page=limit, **filters).items


def manager_choices(*, user: User) -> list[tuple[int, str]]:
    """The account managers named on the warnings the user can see, for the list filter."""
    visible = _visible(user).with_only_columns(ChurnWarning.manager_id).distinct().subquery()
    people = db.session.scalars(select(User).where(User.id.in_(select(visible.c.manager_id)))
                                .order_by(User.full_name))
    return [(person.id, person.full_name) for person in people]


def last_order_date(customer_id: int) -> date | None:
    """The customer's latest order (any status: placing an order is what the churn rule counts)."""
    return db.session.scalar(select(func.max(Order.order_date)).where(Order.customer_id == customer_id))


def running_instance(warning: ChurnWarning) -> ProcessInstance | None:
    """The warning's process while it runs."""
    if warning.process_instance_id is None:
        return None
    instance = db.session.get(ProcessInstance, warning.process_instance_id)
    return instance if instance is not None and instance.status == InstanceStatus.RUNNING else None


def open_task(warning: ChurnWarning) -> HumanTask | None:
    """The step the warning's process waits in (采取暂缓措施, its escalated twin, or 跟进流失预警)."""
    return human_tasks.latest_open_task(warning.process_instance_id)


@unit_of_work
def create_warning(*, user: User, values: dict[str, Any]) -> ChurnWarning:
    """Raise a warning by hand for a customer the user manages (or supervises); one open warning per customer."""
    permissions.require(user, WRITE)
    customer_id = check(values, CHURN_WARNING)["customer_id"]
    customer = writable_customer(user=user, customer_id=customer_id, action=WRITE,
                                 refused="只有客户经理或其主管可以发起流失预警")
    if customer.status == CustomerStatus.LOST:
        raise Conflict("该客户已确认流失")
    if db.session.scalar(select(ChurnWarning.id).where(ChurnWarning.customer_id == customer.id,
                                                       ChurnWarning.status.in_(OPEN_STATUSES))) is not None:
        raise Conflict("该客户已有未关闭的流失预警")
    warning = ChurnWarning(customer_id=customer.id, manager_id=customer.owner_id,
                           last_order_date=last_order_date(customer.id), status=ChurnStatus.WARNING.value,
                           created_by_id=user.id, updated_by_id=user.id)
    db.session.add(warning)
    try:
        db.session.flush()
    except IntegrityError:  # the scan (or a colleague) raised one a moment ago: one open warning per customer
        raise Conflict("该客户已有未关闭的流失预警") from None
    churn_scan.start_process(warning, user=user)
    return warning


def _writable(warning_id: int, user: User) -> ChurnWarning:
    """The warning, locked against a concurrent transition, if the user may act on it."""
    warning = get_warning(warning_id=warning_id, user=user)
    db.session.execute(select(ChurnWarning.id).where(ChurnWarning.id == warning.id).with_for_update())
    db.session.refresh(warning)
    if not permissions.customer_in_scope(user, warning.customer_id, WRITE):
        raise Forbidden("只有客户经理或其主管可以处理此流失预警")
    return warning


def _require_open(warning: ChurnWarning, action: str) -> None:
    if warning.status not in OPEN_STATUSES:
        raise Conflict("流失预警当前为“%(status)s”，不能再%(action)s", code="churn_warning_closed",
                       status=warning.status, action=action)


def _complete(warning: ChurnWarning, user: User, data: dict[str, Any]) -> ChurnWarning:
    """Complete the open step of the warning's process with `data` on the user's behalf (he may act on it)."""
    task = open_task(warning)
    if task is None:
        raise Conflict("流失预警当前为“%(status)s”，不能再%(action)s", code="churn_warning_closed",
                       status=warning.status, action="处理")
    human_tasks.complete_task(task_id=task.id, user=user, data=data, on_behalf=True)
    db.session.expire_all()
    return get_warning(warning_id=warning.id, user=user)


def add_measure(*, warning_id: int, user: User, content: str) -> ChurnWarning:
    """Append a measure (暂缓措施) with its time and author; the first one moves 预警 to 暂缓流失; commits."""
    text = _measure_text(warning_id, user, content)
    warning = get_warning(warning_id=warning_id, user=user)
    if running_instance(warning) is None:
        return _add_measure_directly(warning_id=warning_id, user=user, content=text)
    task = open_task(warning)
    data = {"decision": "measure", "measure": text} if task and task.bpmn_id == "follow_up" else {"measure": text}
    return _complete(warning, user, data)


def _measure_text(warning_id: int, user: User, content: str) -> str:
    warning = _writable(warning_id, user)
    _require_open(warning, "添加暂缓措施")
    text: str = check({"content": content}, MEASURE)["content"]
    db.session.rollback()  # release the lock: the process step takes its own
    return text


@unit_of_work
def _add_measure_directly(*, warning_id: int, user: User, content: str) -> ChurnWarning:
    warning = _writable(warning_id, user)
    _require_open(warning, "添加暂缓措施")
    warning.measures.append(ChurnMeasure(content=content, author_id=user.id, created_at=utcnow()))
    warning.status = ChurnStatus.DEFERRED.value
    warning.updated_by_id = user.id
    db.session.flush()
    return warning


def confirm(*, warning_id: int, user: User, reason: str) -> ChurnWarning:
    """Confirm the churn with its reason (at least one measure first); the customer becomes 已流失; commits."""
    warning = _writable(warning_id, user)
    _require_open(warning, "确认客户流失")  # an action, not the status 确认流失: English words them differently
    if not warning.measures:
        raise Conflict("请先记录至少一条暂缓措施，再确认流失")
    text = check({"reason": reason}, CONFIRMATION)["reason"]
    db.session.rollback()
    if running_instance(warning) is None:
        return _confirm_directly(warning_id=warning_id, user=user, reason=text)
    task = open_task(warning)
    if task is None or task.bpmn_id != "follow_up":
        raise Conflict("请先记录至少一条暂缓措施，再确认流失")
    return _complete(warning, user, {"decision": "confirm", "reason": text, "acknowledge": True})


@unit_of_work
def _confirm_directly(*, warning_id: int, user: User, reason: str) -> ChurnWarning:
    warning = _writable(warning_id, user)
    _require_open(warning, "确认客户流失")
    warning.reason = reason
    warning.status = ChurnStatus.CONFIRMED.value
    warning.closed_at = utcnow()
    warning.updated_by_id = user.id
    warning.customer.status = CustomerStatus.LOST.value
    warning.customer.updated_by_id = user.id
    db.session.flush()
    return warning


@unit_of_work
def recover(*, warning_id: int, user: User) -> ChurnWarning:
    """Close an open warning because the customer is ordering again (已恢复), through its process; commits."""
    warning = _writable(warning_id, user)
    _require_open(warning, "标记为已恢复")
    churn_scan.close_warning(warning, user=user, payload={"source": churn_scan.CLOSED_BY_HAND, "user_id": user.id})
    db.session.flush()
    db.session.refresh(warning)
    return warning


@unit_of_work
def delete_warning(*, warning_id: int, user: User) -> None:
    """Move a warning and its measures to the recycle bin (restorable by the customer's owner); commits."""
    warning = _writable(warning_id, user)
    instance = running_instance(warning)
    if instance is not None:
        instances.cancel_instance(instance=instance, user=user, reason="流失预警已删除")
    label = f"流失预警 {customer_label(warning.customer)} · {warning.status}"
    recycle.move_to_bin(record=warning, user=user, label=label, owner_id=warning.customer.owner_id)
