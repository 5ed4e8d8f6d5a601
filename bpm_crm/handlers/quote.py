"""Handlers of the quote approval process: the figures its route is decided on, and the quote's status.

草稿 → 审批中 (submitted) → 已批准, or → 已驳回 (rejected or returned to the author) → 审批中 again when he
resubmits, or → 草稿 when he withdraws. Each resubmission records what the quote looked like, so that an
approver sees what changed since the version he decided on.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import Notification, ProcessEvent, Quote, QuoteStatus


def _quote(quote_id: int, *expected: QuoteStatus) -> Quote:
    quote = db.session.get(Quote, quote_id)
    if quote is None:
        raise NotFound("报价 %(id)s 不存在", code="quote_not_found", id=quote_id)
    if expected and quote.status not in expected:
        raise Conflict("报价当前为“%(status)s”", code="quote_status", status=quote.status)
    return quote


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal('0')).quantize(Decimal('0.01'))}"


def snapshot(quote: Quote) -> dict[str, Any]:
    """What an approver decides on: the header and every line, as text, for comparing versions."""
    return {
        "fields": {
            "customer": quote.customer.name if quote.customer else "",
            "contact": quote.contact.name if quote.contact else "",
            "name": quote.name,
            "quote_date": quote.quote_date.isoformat() if quote.quote_date else "",
            "remarks": quote.remarks or "",
            "total": _money(quote.total),
        },
        "lines": [{"id": line.id, "product_name": line.product_name, "quantity": str(line.quantity),
                   "unit_price": _money(line.unit_price), "discount_pct": _money(line.discount_pct),
                   "amount": _money(line.amount)} for line in quote.lines],
    }


def figures(quote: Quote) -> dict[str, Any]:
    """The figures the route is decided on: the total and the deepest line discount, in percent."""
    deepest = max((line.discount_pct or Decimal("0") for line in quote.lines), default=Decimal("0"))
    return {"amount": float(quote.total or 0), "discount": float(deepest), "number": quote.number}


def read_figures(context: HandlerContext, *, quote_id: int) -> dict[str, Any]:
    """`quote.figures`: amount and discount of the quote as it is now, for the decision table."""
    return figures(_quote(quote_id, QuoteStatus.PENDING))


def approve(context: HandlerContext, *, quote_id: int) -> dict[str, Any]:
    """`quote.approve`: every step said yes — 审批中 → 已批准."""
    quote = _quote(quote_id, QuoteStatus.PENDING)
    quote.status = QuoteStatus.APPROVED.value
    quote.updated_by_id = context.user.id if context.user else quote.updated_by_id
    _tell_requester(context, "approved", quote)
    return {"status": quote.status}


def _tell_requester(context: HandlerContext, kind: str, quote: Quote) -> None:
    """"Your request was approved / rejected": the one who submitted it is notified (not when he decided it)."""
    requester = context.instance.started_by_id
    if requester is not None and (context.user is None or context.user.id != requester):
        db.session.add(Notification(user_id=requester, kind=kind, title=f"{quote.number} {quote.name}"[:200],
                                    instance_id=context.instance.id))


def reject(context: HandlerContext, *, quote_id: int, outcome: str = "rejected") -> dict[str, Any]:
    """`quote.reject`: a step rejected it or returned it to the author — 审批中 → 已驳回, for him to revise."""
    quote = _quote(quote_id, QuoteStatus.PENDING)
    quote.status = QuoteStatus.REJECTED.value
    quote.updated_by_id = context.user.id if context.user else quote.updated_by_id
    _tell_requester(context, "rejected", quote)
    return {"status": quote.status, "outcome": outcome}


def resubmit(context: HandlerContext, *, quote_id: int) -> dict[str, Any]:
    """`quote.resubmit`: the author revised it — 已驳回 → 审批中, the new version recorded."""
    quote = _quote(quote_id, QuoteStatus.REJECTED)
    if not quote.lines or (quote.total or 0) <= 0:
        message = "请先添加产品明细再提交审批"
        raise Invalid(message, {"next_step": [message]}, code="quote_empty")
    quote.status = QuoteStatus.PENDING.value
    quote.updated_by_id = context.user.id if context.user else quote.updated_by_id
    db.session.add(ProcessEvent(instance_id=context.instance.id, action="resubmitted",
                                user_id=context.user.id if context.user else None, task_name=quote.number,
                                data={"snapshot": snapshot(quote)}))
    return {"status": quote.status}


def withdraw(context: HandlerContext, *, quote_id: int) -> dict[str, Any]:
    """`quote.withdraw`: the author takes it back — a draft again, editable and submittable anew."""
    quote = _quote(quote_id, QuoteStatus.PENDING, QuoteStatus.REJECTED)
    quote.status = QuoteStatus.DRAFT.value
    quote.updated_by_id = context.user.id if context.user else quote.updated_by_id
    return {"status": quote.status}


HANDLERS = {
    "quote.figures": read_figures,
    "quote.approve": approve,
    "quote.reject": reject,
    "quote.resubmit": resubmit,
    "quote.withdraw": withdraw,
}
