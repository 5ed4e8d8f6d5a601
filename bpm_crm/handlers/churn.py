"""Handlers of the churn process (客户流失处理): measures, confirming the churn, closing on a new order.

预警 → 暂缓流失 (the first measure) → 确认流失 (with a reason; the customer becomes 已流失), or → 已恢复 when
the customer orders again. The weekly scan that raises the warnings is a platform handler
(bpm_crm.services.churn_scan): it starts the processes, which a handler cannot.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import ChurnMeasure, ChurnStatus, ChurnWarning, CustomerStatus
from bpm_crm.models.base import utcnow

OPEN_STATUSES = (ChurnStatus.WARNING.value, ChurnStatus.DEFERRED.value)
MAX_TEXT = 4000


def open_warning(warning_id: int) -> ChurnWarning:
    """The warning, locked, while it is open; NotFound or Conflict otherwise."""
    warning = db.session.scalar(select(ChurnWarning).where(ChurnWarning.id == warning_id).with_for_update()
                                .execution_options(populate_existing=True))
    if warning is None:
        raise NotFound("流失预警 %(id)s 不存在", code="churn_warning_not_found", id=warning_id)
    if warning.status not in OPEN_STATUSES:
        raise Conflict("流失预警当前为“%(status)s”，不能再%(action)s", code="churn_warning_closed",
                       status=warning.status, action="处理")
    return warning


def _text(value: Any, field: str, required: str) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise Invalid(required, {field: [required]})
    return text[:MAX_TEXT]


def add_measure(context: HandlerContext, *, warning_id: int, content: str) -> int:
    """`churn.add_measure`: append a measure (暂缓措施) with its author; the first one defers the churn."""
    warning = open_warning(warning_id)
    warning.measures.append(ChurnMeasure(content=_text(content, "measure", "请填写暂缓措施"),
                                         author_id=context.user.id if context.user else None, created_at=utcnow()))
    warning.status = ChurnStatus.DEFERRED.value
    warning.updated_by_id = context.user.id if context.user else warning.updated_by_id
    db.session.flush()
    return len(warning.measures)


def confirm(context: HandlerContext, *, warning_id: int, reason: str) -> dict[str, Any]:
    """`churn.confirm`: 确认流失 with the reason, after at least one measure; the customer becomes 已流失."""
    warning = open_warning(warning_id)
    if not warning.measures:
        raise Invalid("请先记录至少一条暂缓措施，再确认流失", {"decision": ["请先记录至少一条暂缓措施，再确认流失"]},
                      code="churn_no_measure")
    user_id = context.user.id if context.user else None
    warning.reason = _text(reason, "reason", "请填写流失原因")
    warning.status = ChurnStatus.CONFIRMED.value
    warning.closed_at = utcnow()
    warning.updated_by_id = user_id or warning.updated_by_id
    warning.customer.status = CustomerStatus.LOST.value
    warning.customer.updated_by_id = user_id or warning.customer.updated_by_id
    return {"status": warning.status, "customer_id": warning.customer_id}


def recover(context: HandlerContext, *, warning_id: int) -> dict[str, Any]:
    """`churn.recover`: the customer ordered again — the warning closes as 已恢复 (a closed one stays as it is)."""
    warning = db.session.get(ChurnWarning, warning_id)
    if warning is None:
        raise NotFound("流失预警 %(id)s 不存在", code="churn_warning_not_found", id=warning_id)
    if warning.status in OPEN_STATUSES:
        warning.status = ChurnStatus.RECOVERED.value
        warning.closed_at = utcnow()
        warning.updated_by_id = context.user.id if context.user else warning.updated_by_id
    return {"status": warning.status}


HANDLERS = {
    "churn.add_measure": add_measure,
    "churn.confirm": confirm,
    "churn.recover": recover,
}
