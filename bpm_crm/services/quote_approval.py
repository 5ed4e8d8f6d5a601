"""Quote approval (报价审批, SPEC §4.4): submitting a quote starts the `quote_approval` process.

The process decides the route from its decision table (`processes/quote_levels.dmn`: amount and
discount → levels) and runs its approval steps (bpm_crm.services.approvals); the handlers in
bpm_crm.handlers.quote move the quote's status. Here: submitting and resubmitting (each submission keeps a snapshot
of the quote; `compare` says how two differ, shown by approval_trail), withdrawing, the approval trail the PDF
prints, and the time each step took.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers import quote as quote_handlers
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.i18n import _
from bpm_crm.models import (
    HumanTask,
    InstanceStatus,
    ProcessInstance,
    Quote,
    QuoteStatus,
    TaskStatus,
    User,
)
from bpm_crm.services import approval_trail, approvals, human_tasks, instances, quote_pdf, quotes
from bpm_crm.services.approval_trail import Change
from bpm_crm.services.transaction import unit_of_work

PROCESS_ID = "quote_approval"
FIELD_LABELS = {"customer": _("客户"), "contact": _("联系人"), "name": _("报价名称"), "quote_date": _("报价日期"),
                "remarks": _("备注"), "total": _("总金额")}
LINE_LABELS = {"product_name": _("产品"), "quantity": _("数量"), "unit_price": _("单价"),
               "discount_pct": _("折扣（%）"), "amount": _("金额")}


def _instance_of(quote: Quote) -> ProcessInstance | None:
    return db.session.get(ProcessInstance, quote.process_instance_id) if quote.process_instance_id else None


def _revise_task(instance: ProcessInstance) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == "revise", HumanTask.status == TaskStatus.OPEN))


def _own(quote_id: int, user: User) -> Quote:
    quote = quotes.get_quote(quote_id=quote_id, user=user)
    if not quotes.may_update(user, quote):
        raise NotFound("报价不存在或您无权查看")
    return quote


def submit(*, quote_id: int, user: User) -> Quote:
    """提交审批: a draft starts the process; a rejected quote, revised, goes round again. Commits."""
    quote = _own(quote_id, user)
    if quote.status == QuoteStatus.REJECTED:
        return _resubmit(quote, user)
    return _start(quote_id=quote_id, user=user)


@unit_of_work
def _start(*, quote_id: int, user: User) -> Quote:
    quote = db.session.scalar(select(Quote).where(Quote.id == quote_id).with_for_update())
    if quote is None:
        raise NotFound("报价不存在或您无权查看")
    if quote.status != QuoteStatus.DRAFT:
        raise Conflict("报价当前为“%(status)s”，只有草稿可以提交审批", code="quote_not_draft", status=quote.status)
    if not quote.lines or (quote.total or 0) <= 0:
        raise Invalid("请先添加产品明细再提交审批", {"lines": ["请先添加产品明细再提交审批"]}, code="quote_empty")
    quote.status = QuoteStatus.PENDING.value
    quote.updated_by_id = user.id
    customer = quote.customer.name if quote.customer else ""
    instance = instances.start_instance(
        process_id=PROCESS_ID, business_type="quote", business_id=quote.id, owner_id=user.id,
        title=f"{quote.number} {quote.name} · {customer}",
        data={"quote_id": quote.id, "requester_id": user.id}, user=user,
    )
    instances.record(instance, "submitted", user=user, task_name=quote.number,
                     data={"snapshot": quote_handlers.snapshot(quote)})
    quote.process_instance_id = instance.id
    return quote


def _resubmit(quote: Quote, user: User) -> Quote:
    instance = _instance_of(quote)
    task = _revise_task(instance) if instance is not None else None
    if task is None or task.assignee_id != user.id:
        raise Conflict("报价当前为“%(status)s”", code="quote_status", status=quote.status)
    human_tasks.complete_task(task_id=task.id, user=user, data={"next_step": "resubmit"})
    return quote


def withdraw(*, quote_id: int, user: User, reason: str | None = None) -> Quote:
    """撤回: back to a draft — while no approver has acted, or after a rejection instead of revising. Commits."""
    quote = _own(quote_id, user)
    instance = _instance_of(quote)
    if instance is None or instance.status != InstanceStatus.RUNNING or \
            quote.status not in (QuoteStatus.PENDING, QuoteStatus.REJECTED):
        raise Conflict("报价当前为“%(status)s”，不能撤回", code="quote_not_pending", status=quote.status)
    task = _revise_task(instance) if quote.status == QuoteStatus.REJECTED else None
    if task is not None:
        human_tasks.complete_task(task_id=task.id, user=user, data={"next_step": "withdraw"}, comment=reason)
    else:
        approvals.withdraw(instance_id=instance.id, user=user, reason=reason)
    db.session.refresh(quote)
    return quote


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Field by field, then line by line (matched by line id), what `new` changed against `old`."""
    changes = []
    for key, label in FIELD_LABELS.items():
        before, after = old.get("fields", {}).get(key, ""), new.get("fields", {}).get(key, "")
        if before != after:
            changes.append(Change("field", str(label), before, after))
    old_lines = {line["id"]: line for line in old.get("lines", [])}
    new_lines = {line["id"]: line for line in new.get("lines", [])}
    for line_id, line in new_lines.items():
        previous = old_lines.get(line_id)
        if previous is None:
            changes.append(Change("added", line["product_name"], after=_line_text(line)))
            continue
        fields = tuple((str(LINE_LABELS[key]), str(previous.get(key, "")), str(line.get(key, "")))
                       for key in LINE_LABELS if previous.get(key) != line.get(key))
        if fields:
            changes.append(Change("changed", line["product_name"], fields=fields))
    for line_id, line in old_lines.items():
        if line_id not in new_lines:
            changes.append(Change("removed", line["product_name"], before=_line_text(line)))
    return changes


def _line_text(line: dict[str, Any]) -> str:
    return str(_("%(quantity)s × %(price)s，折扣 %(discount)s%% = %(amount)s", quantity=line["quantity"],
                 price=line["unit_price"], discount=line["discount_pct"], amount=line["amount"]))


# What of the approval trail the printed quote carries, and how it names each kind.
PRINTED_KINDS = {"approve": "approve", "reject": "reject", "return": "return", "transferred": "transfer",
                 "added_signer": "add_signer", "auto_self": "auto_pass"}


def trail(instance_id: int) -> list[dict[str, Any]]:
    """The decisions of the latest submission as the printed quote carries them: the approval trail's last round."""
    entries = approval_trail.trail(instance_id)
    last = max((entry.round for entry in entries), default=1)
    return [{"step": entry.step, "approver": entry.who or "", "decision": PRINTED_KINDS[entry.kind], "at": entry.at,
             "comment": entry.comment} for entry in entries if entry.round == last and entry.kind in PRINTED_KINDS]


def print_quote(context: HandlerContext, *, quote_id: int) -> dict[str, Any]:
    """`quote.print`: ask for the approved quote's PDF, printed once this transaction commits."""
    quote = db.session.get(Quote, quote_id)
    if quote is None or quote.status != QuoteStatus.APPROVED:
        raise Conflict("只有已批准的报价可以生成报价单", code="quote_not_approved")
    job = quote_pdf.request_pdf(quote_id=quote.id, trail=trail(context.instance.id),
                                approver_id=context.user.id if context.user else None)
    return {"job_id": job.id}


@dataclass(frozen=True)
class StepTime:
    """How long one approver's task waited, for the quote-approval report."""

    step: str
    approver: str
    opened_at: datetime
    closed_at: datetime | None
    seconds: int | None
    approver_id: int | None = None


def step_times(instance_id: int) -> list[StepTime]:
    """Each approval task of a request with when it opened and closed; open ones have no duration yet."""
    rows = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                              .order_by(HumanTask.id)).all()
    times = []
    for task in rows:
        if approvals.step_of(task) is None:
            continue
        closed = task.completed_at
        seconds = int((closed - task.created_at).total_seconds()) if closed else None
        times.append(StepTime(task.name, task.assignee.full_name if task.assignee else "", task.created_at, closed,
                              seconds, task.assignee_id))
    return times


def pending_for(quote: Quote) -> ProcessInstance | None:
    """The running approval of a quote, if any."""
    instance = _instance_of(quote)
    return instance if instance is not None and instance.status == InstanceStatus.RUNNING else None


__all__ = ["PROCESS_ID", "StepTime", "compare", "pending_for", "print_quote", "step_times", "submit", "trail",
           "withdraw"]
