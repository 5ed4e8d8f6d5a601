"""The weekly churn scan (客户流失检查) and the processes it starts, one per warning (客户流失处理).

The scan is the `churn.scan` service task of the scheduled `churn_scan` process. It is set-based: one
query over the orders finds every customer with no order since the cutoff (`months` before today), and
one multi-row INSERT raises their warnings; a customer with an open warning is counted and skipped (a
partial unique index makes a second open warning impossible, whoever raises it). Its figures — customers
checked, warnings raised, skipped as already open, closed by a new order — are the run's result
(`figures`), kept with the schedule run.

Starting a process per warning and closing warnings whose customer ordered again are after-commit jobs
in batches: the scan stays one short transaction however many warnings it raises, and a worker killed
in a batch leaves it to be run again with nothing half done (each warning gets its process in the
transaction that records it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import (
    ChurnStatus,
    ChurnWarning,
    Customer,
    CustomerStatus,
    Department,
    InstanceStatus,
    Order,
    ProcessInstance,
    ProcessSchedule,
    ScheduleRun,
    User,
)
from bpm_crm.models.base import utcnow
from bpm_crm.services import instances, jobs, levels, messages, process_settings
from bpm_crm.services.customer_records import local_today

SCAN_PROCESS_ID = "churn_scan"
PROCESS_ID = "churn"
BUSINESS_TYPE = "churn_warning"
MESSAGE = "order_placed"
JOB_START = "churn.start_processes"
JOB_CLOSE = "churn.close_recovered"
OPEN_STATUSES = (ChurnStatus.WARNING.value, ChurnStatus.DEFERRED.value)
# What closed a warning as 已恢复 (ChurnWarning.closed_by): only the first two count as closed by a new order.
CLOSED_BY_ORDER, CLOSED_BY_SCAN, CLOSED_BY_HAND = "order", "scan", "manual"
BATCH = 100  # processes started (or warnings closed) per job and transaction
MAX_MONTHS = 120
FIGURES = ("checked", "raised", "skipped_open", "closed_by_order")


months_before = levels.months_before  # the same day N months earlier, as the level rules count them


def last_orders() -> Any:
    """Each customer's latest order date (any status: placing an order is what counts), as a subquery."""
    return (select(Order.customer_id.label("customer_id"), func.max(Order.order_date).label("last_order"))
            .group_by(Order.customer_id).subquery("last_orders"))


def inactive_customers(cutoff: date) -> Select:
    """Customers in business (正常, with an account manager, known since before the cutoff) with no order since.

    Columns: id, owner_id, last_order, has_open (an open warning exists).
    """
    latest = last_orders()
    has_open = exists().where(ChurnWarning.customer_id == Customer.id, ChurnWarning.status.in_(OPEN_STATUSES))
    return (select(Customer.id, Customer.owner_id, latest.c.last_order, has_open.label("has_open"))
            .outerjoin(latest, latest.c.customer_id == Customer.id)
            .where(Customer.status == CustomerStatus.NORMAL.value, Customer.owner_id.is_not(None),
                   Customer.created_at < datetime.combine(cutoff, datetime.min.time()),
                   or_(latest.c.last_order.is_(None), latest.c.last_order < cutoff)))


def newer_order_clause() -> Any:
    """Open warnings whose customer has ordered since the order the warning was raised after."""
    return exists().where(Order.customer_id == ChurnWarning.customer_id,
                          Order.order_date > func.coalesce(ChurnWarning.last_order_date, literal(date(1900, 1, 1))))


def _insert_ignoring_duplicates() -> Any:
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(ChurnWarning).on_conflict_do_nothing().returning(ChurnWarning.id)


def scan(context: HandlerContext, *, months: int = 6) -> dict[str, Any]:
    """`churn.scan`: raise a warning for every inactive customer without an open one; the run's figures."""
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be a whole number from 1 to {MAX_MONTHS}, not {months!r}")
    cutoff = months_before(local_today(), months)
    checked = db.session.scalar(select(func.count()).select_from(Customer).where(
        Customer.status == CustomerStatus.NORMAL.value, Customer.owner_id.is_not(None))) or 0
    rows = db.session.execute(inactive_customers(cutoff)).all()
    now = utcnow()
    new = [{"customer_id": row.id, "manager_id": row.owner_id, "last_order_date": row.last_order,
            "status": ChurnStatus.WARNING.value, "created_at": now, "updated_at": now} for row in rows
           if not row.has_open]
    raised = list(db.session.scalars(_insert_ignoring_duplicates(), new)) if new else []
    # Open warnings whose customer ordered again without the message reaching them: this run closes them (after
    # its commit) and counts them; marked now, so that no later run counts them again.
    recovered = list(db.session.scalars(select(ChurnWarning.id).where(
        ChurnWarning.status.in_(OPEN_STATUSES), newer_order_clause()).order_by(ChurnWarning.id)))
    for start in range(0, len(recovered), BATCH):
        db.session.execute(update(ChurnWarning).where(ChurnWarning.id.in_(recovered[start:start + BATCH]))
                           .values(closed_by=CLOSED_BY_SCAN))
    if raised:
        jobs.enqueue(JOB_START, {})
    for start in range(0, len(recovered), BATCH):
        jobs.enqueue(JOB_CLOSE, {"warning_ids": recovered[start:start + BATCH]})
    return {"checked": checked, "raised": len(raised), "skipped_open": len(rows) - len(new),
            "closed_by_order": _closed_by_orders_since(context) + len(recovered), "months": months,
            "cutoff": cutoff.isoformat()}


def _closed_by_orders_since(context: HandlerContext) -> int:
    """Warnings an order's message closed between the scan before this one and this one (each in one run only)."""
    started = getattr(context.instance, "started_at", None) or utcnow()
    previous = db.session.scalar(select(func.max(ProcessInstance.started_at)).where(
        ProcessInstance.process_id == SCAN_PROCESS_ID, ProcessInstance.started_at < started))
    return db.session.scalar(select(func.count()).select_from(ChurnWarning).where(
        ChurnWarning.status == ChurnStatus.RECOVERED.value, ChurnWarning.closed_by == CLOSED_BY_ORDER,
        ChurnWarning.closed_at >= (previous or datetime(1900, 1, 1)), ChurnWarning.closed_at < started)) or 0


def escalates_to(manager_id: int | None) -> int | None:
    """Who takes over an unattended warning: the account manager's superior, else his department's head (not
    himself); None when neither exists (the diagram then offers the step to the sales directors)."""
    manager = db.session.get(User, manager_id) if manager_id else None
    if manager is None:
        return None
    if manager.superior_id or manager.department_id is None:
        return manager.superior_id
    head = db.session.scalar(select(Department.head_id).where(Department.id == manager.department_id))
    return head if head != manager.id else None


def start_process(warning: ChurnWarning, *, user: User | None) -> ProcessInstance:
    """Start the handling process of one warning; joins the caller's transaction."""
    customer = warning.customer
    instance = instances.start_instance(
        process_id=PROCESS_ID, business_type=BUSINESS_TYPE, business_id=warning.id, owner_id=warning.manager_id,
        title=f"{customer.number or ''} {customer.name} · 流失预警".strip(),
        data={"warning_id": warning.id, "customer_id": customer.id, "customer_name": customer.name,
              "manager_id": warning.manager_id, "supervisor_id": escalates_to(warning.manager_id),
              "last_order_date": warning.last_order_date.isoformat() if warning.last_order_date else None},
        user=user)
    warning.process_instance_id = instance.id
    return instance


def start_processes(payload: dict[str, Any]) -> None:
    """Job: start the process of up to BATCH open warnings that have none; queue the next batch if more wait."""
    query = (select(ChurnWarning).where(ChurnWarning.status.in_(OPEN_STATUSES),
                                        ChurnWarning.process_instance_id.is_(None))
             .order_by(ChurnWarning.id).limit(BATCH).with_for_update(skip_locked=True, of=ChurnWarning))
    warnings = list(db.session.scalars(query))
    for warning in warnings:
        start_process(warning, user=None)
    if len(warnings) == BATCH:
        jobs.enqueue(JOB_START, {})


def close_recovered(payload: dict[str, Any]) -> None:
    """Job: close the open warnings (by id) whose customer ordered again, through their processes."""
    ids = [int(value) for value in payload.get("warning_ids", []) if isinstance(value, int)][:BATCH]
    for warning in db.session.scalars(select(ChurnWarning).where(
            ChurnWarning.id.in_(ids), ChurnWarning.status.in_(OPEN_STATUSES), newer_order_clause())
            .order_by(ChurnWarning.id)):
        close_warning(warning, user=None, payload={"source": CLOSED_BY_SCAN})


def close_warning(warning: ChurnWarning, *, user: User | None, payload: dict[str, Any]) -> None:
    """The customer ordered again: its process catches the message and closes the warning (已恢复).

    `payload["source"]` says who tells ("order", "scan" or "manual"), kept as `closed_by`; a warning a scan has
    found and counted keeps the scan's mark when an order's message closes it, so no later run counts it again.
    """
    source = str(payload.get("source") or CLOSED_BY_HAND)
    if warning.closed_by != CLOSED_BY_SCAN or source == CLOSED_BY_HAND:
        warning.closed_by = source
    instance = db.session.get(ProcessInstance, warning.process_instance_id) if warning.process_instance_id else None
    if instance is not None and instance.status == InstanceStatus.RUNNING:
        if messages.correlate(message_name=MESSAGE, business_type=BUSINESS_TYPE, business_id=warning.id,
                              payload=payload, user=user):
            return
    # A warning without a running process (raised before processes, or its process was ended) closes here.
    warning.status = ChurnStatus.RECOVERED.value
    warning.closed_at = utcnow()
    warning.updated_by_id = user.id if user else warning.updated_by_id


def orders_placed(*, customer_ids: set[int] | list[int], user: User | None = None) -> int:
    """New orders of these customers: close their open warnings (joins the caller's transaction); how many."""
    if not customer_ids:
        return 0
    warnings = list(db.session.scalars(select(ChurnWarning).where(
        ChurnWarning.customer_id.in_(sorted(set(customer_ids))), ChurnWarning.status.in_(OPEN_STATUSES),
        newer_order_clause()).order_by(ChurnWarning.id)))
    for warning in warnings:
        close_warning(warning, user=user, payload={"source": CLOSED_BY_ORDER})
    return len(warnings)


@dataclass(frozen=True)
class ScanStatus:
    """What the churn pages say about the scan: its rule, period, next run and (for process owners) last figures."""

    rule: str | None
    next_run_at: datetime | None
    months: int | None
    last_run_at: datetime | None
    figures: dict[str, Any] | None


def status() -> ScanStatus:
    """The weekly scan's schedule, the period of its newest version, and its last successful run."""
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == SCAN_PROCESS_ID)
                                 .order_by(ProcessSchedule.id).limit(1))
    if schedule is None:
        return ScanStatus(None, None, None, None, None)
    last = db.session.scalar(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id,
                                                       ScheduleRun.instance_id.is_not(None))
                             .order_by(ScheduleRun.due_at.desc(), ScheduleRun.id.desc()).limit(1))
    months = next((value for setting, value in process_settings.current(SCAN_PROCESS_ID)
                   if setting.key == "churn_months"), None)
    return ScanStatus(rule=schedule.rule, next_run_at=schedule.next_run_at if schedule.active else None,
                      months=months, last_run_at=last.started_at if last else None,
                      figures=last.figures if last else None)
