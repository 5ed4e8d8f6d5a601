"""Handlers of the opportunity process: assignment, the development plan and its outcome."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers import HandlerContext, handler
from bpm_crm.models import Customer, Opportunity, OpportunityStatus, PlanItem, User
from bpm_crm.models.base import utcnow


def _opportunity(opportunity_id: int) -> Opportunity:
    opportunity = db.session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound(f"销售机会 {opportunity_id} 不存在")
    return opportunity


def active_account_manager(user_id: Any) -> User:
    """The user if he is an active account manager, else Invalid on the field `assignee_id`."""
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None or not user.active or "account_manager" not in user.role_codes:
        raise Invalid("请选择一位在职的客户经理", {"assignee_id": ["请选择一位在职的客户经理"]})
    return user


@handler("opportunity.assign")
def assign(context: HandlerContext, *, opportunity_id: int, assignee_id: int) -> dict[str, Any]:
    """Record the assignment: 未指派 → 已指派."""
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.UNASSIGNED:
        raise Conflict(f"销售机会已是“{opportunity.status}”状态")
    assignee = active_account_manager(assignee_id)
    opportunity.assignee_id = assignee.id
    opportunity.assigned_at = utcnow()
    opportunity.status = OpportunityStatus.ASSIGNED.value
    opportunity.updated_by_id = context.user.id if context.user else None
    return {"assignee_id": assignee.id, "assignee": assignee.full_name, "assigned_at": opportunity.assigned_at}


@handler("opportunity.save_plan")
def save_plan(context: HandlerContext, *, opportunity_id: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Make the plan items match `items`: add new ones, update contents, delete the missing.

    A saved item's date never changes (SPEC §3); an item that already has a result is kept.
    """
    opportunity = _opportunity(opportunity_id)
    existing = {item.id: item for item in opportunity.plan_items}
    keep: set[int] = set()
    for row in items or []:
        item_id = row.get("id")
        if item_id:
            item = existing.get(int(item_id))
            if item is None:
                raise Invalid("计划项不属于此销售机会", {"plan_items": [f"计划项 {item_id} 不属于此销售机会"]})
            item.content = row["content"]
            keep.add(item.id)
        else:
            opportunity.plan_items.append(PlanItem(date=date.fromisoformat(row["date"]), content=row["content"]))
    for item_id, item in existing.items():
        if item_id not in keep and not item.result:
            opportunity.plan_items.remove(item)
    db.session.flush()
    return {"items": len(opportunity.plan_items)}


@handler("opportunity.record_results")
def record_results(
    context: HandlerContext, *, opportunity_id: int, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Store the execution result (执行效果) of each plan item."""
    opportunity = _opportunity(opportunity_id)
    by_id = {item.id: item for item in opportunity.plan_items}
    recorded = 0
    for row in results or []:
        item = by_id.get(int(row["id"]))
        if item is None:
            raise Invalid("计划项不属于此销售机会", {"plan_results": [f"计划项 {row['id']} 不属于此销售机会"]})
        result = (row.get("result") or "").strip() or None
        if result != item.result:
            item.result = result
        recorded += result is not None
    return {"recorded": recorded}


@handler("opportunity.succeed")
def succeed(context: HandlerContext, *, opportunity_id: int) -> dict[str, Any]:
    """开发成功: create the customer from the opportunity and link it."""
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.ASSIGNED:
        raise Conflict(f"销售机会已是“{opportunity.status}”状态")
    existing = db.session.scalar(select(Customer).where(Customer.opportunity_id == opportunity.id))
    customer = existing or Customer(
        name=opportunity.customer_name,
        contact_name=opportunity.contact,
        phone=opportunity.contact_phone,
        source=opportunity.source,
        owner_id=opportunity.assignee_id,
        opportunity_id=opportunity.id,
        created_by_id=context.user.id if context.user else None,
    )
    db.session.add(customer)
    db.session.flush()
    customer.number = customer.number or f"KH{customer.id:06d}"
    opportunity.status = OpportunityStatus.SUCCEEDED.value
    opportunity.closed_at = utcnow()
    return {"customer_id": customer.id, "customer_number": customer.number}


@handler("opportunity.fail")
def fail(context: HandlerContext, *, opportunity_id: int) -> dict[str, Any]:
    """终止开发: the opportunity ends as 开发失败."""
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.ASSIGNED:
        raise Conflict(f"销售机会已是“{opportunity.status}”状态")
    opportunity.status = OpportunityStatus.FAILED.value
    opportunity.closed_at = utcnow()
    return {"status": opportunity.status}
