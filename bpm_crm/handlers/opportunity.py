"""Handlers of the opportunity process: assignment, the development plan and its outcome."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.i18n import _
from bpm_crm.models import Contact, Customer, Opportunity, OpportunityStatus, PlanItem, User
from bpm_crm.models.base import utcnow


def _opportunity(opportunity_id: int) -> Opportunity:
    opportunity = db.session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound("销售机会 %(id)s 不存在", code="opportunity_not_found", id=opportunity_id)
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


def assign(context: HandlerContext, *, opportunity_id: int, assignee_id: int) -> dict[str, Any]:
    """Record the assignment: 未指派 → 已指派."""
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.UNASSIGNED:
        raise Conflict("销售机会已是“%(status)s”状态", code="opportunity_status", status=opportunity.status)
    assignee = active_account_manager(assignee_id)
    opportunity.assignee_id = assignee.id
    opportunity.assigned_at = utcnow()
    opportunity.status = OpportunityStatus.ASSIGNED.value
    opportunity.updated_by_id = context.user.id if context.user else None
    return {"assignee_id": assignee.id, "assignee": assignee.full_name, "assigned_at": opportunity.assigned_at}


def save_plan(context: HandlerContext, *, opportunity_id: int, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the plan items match `items` and return them as the rows the plan is executed with.

    New rows are added, contents of known ones updated, missing ones deleted; a saved item's date
    never changes (SPEC §3) and an item that already has a result is kept.
    """
    opportunity = _opportunity(opportunity_id)
    existing = {item.id: item for item in opportunity.plan_items}
    keep: set[int] = set()
    for row in items or []:
        item_id = row.get("id")
        if item_id:
            item = existing.get(int(item_id))
            if item is None:
                raise Invalid("计划项不属于此销售机会",
                              {"plan_items": [str(_("计划项 %(id)s 不属于此销售机会", id=item_id))]},
                              code="plan_item_unknown", id=item_id)
            item.content = row["content"]
            keep.add(item.id)
        else:
            opportunity.plan_items.append(PlanItem(date=date.fromisoformat(row["date"]), content=row["content"]))
    for item_id, item in existing.items():
        if item_id not in keep and not item.result:
            opportunity.plan_items.remove(item)
    db.session.flush()
    return [{"id": item.id, "date": item.date.isoformat(), "content": item.content, "result": item.result}
            for item in sorted(opportunity.plan_items, key=lambda item: (item.date, item.id))]


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
            raise Invalid("计划项不属于此销售机会",
                          {"plan_results": [str(_("计划项 %(id)s 不属于此销售机会", id=row["id"]))]},
                          code="plan_item_unknown", id=row["id"])
        result = (row.get("result") or "").strip() or None
        if result != item.result:
            item.result = result
        recorded += result is not None
    return {"recorded": recorded}


def succeed(context: HandlerContext, *, opportunity_id: int) -> dict[str, Any]:
    """开发成功: create the customer from the opportunity, with its contact, and link it.

    Success needs at least one recorded result: a plan nobody carried out is no development.
    """
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.ASSIGNED:
        raise Conflict("销售机会已是“%(status)s”状态", code="opportunity_status", status=opportunity.status)
    if not any((item.result or "").strip() for item in opportunity.plan_items):
        message = "开发成功前请至少记录一条执行效果"
        raise Invalid(message, {"decision": [message]}, code="no_result")
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
    if existing is None and opportunity.contact:
        # The person the opportunity named becomes the new customer's first contact.
        phone = opportunity.contact_phone or ""
        db.session.add(Contact(
            customer_id=customer.id, name=opportunity.contact[:60], gender="", position="", office_phone=phone[:40],
            mobile=phone[:40] if phone.startswith("1") and len(phone) == 11 else None,
            remarks=f"由销售机会 {opportunity.number} 开发成功时创建", created_by_id=customer.created_by_id,
        ))
    opportunity.status = OpportunityStatus.SUCCEEDED.value
    opportunity.closed_at = utcnow()
    db.session.expire(opportunity, ["customer"])  # a view of Customer.opportunity_id: read again when next asked
    return {"customer_id": customer.id, "customer_number": customer.number}


def fail(context: HandlerContext, *, opportunity_id: int) -> dict[str, Any]:
    """终止开发: the opportunity ends as 开发失败."""
    opportunity = _opportunity(opportunity_id)
    if opportunity.status != OpportunityStatus.ASSIGNED:
        raise Conflict("销售机会已是“%(status)s”状态", code="opportunity_status", status=opportunity.status)
    opportunity.status = OpportunityStatus.FAILED.value
    opportunity.closed_at = utcnow()
    return {"status": opportunity.status}


HANDLERS = {
    "opportunity.assign": assign,
    "opportunity.save_plan": save_plan,
    "opportunity.record_results": record_results,
    "opportunity.succeed": succeed,
    "opportunity.fail": fail,
}
