"""Opportunity use cases: create (starts its process), edit, delete, read, list."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Conflict, Forbidden, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.opportunity import OPPORTUNITY
from bpm_crm.forms.rules import check
from bpm_crm.models import Opportunity, OpportunityStatus, ProcessInstance, User
from bpm_crm.services import instances, permissions
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.records import RECORDS
from bpm_crm.services.transaction import unit_of_work

PROCESS_ID = "opportunity"
EDITABLE_FIELDS = OPPORTUNITY.names
OWNER_COLUMNS = (Opportunity.created_by_id, Opportunity.assignee_id)


def _visible(user: User) -> Select:
    return select(Opportunity).where(permissions.scope_clause(user, "opportunity.read", OWNER_COLUMNS))


def get_opportunity(*, opportunity_id: int, user: User) -> Opportunity:
    """An opportunity within the user's read scope; NotFound otherwise."""
    opportunity = db.session.scalar(_visible(user).where(Opportunity.id == opportunity_id))
    if opportunity is None:
        raise NotFound("销售机会不存在或您无权查看")
    return opportunity


def list_opportunities(
    *, user: User, q: str | None = None, status: str | None = None, page: int = 1, per_page: int = 20
) -> Page:
    """The user's visible opportunities, newest first, searched and filtered."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(
                Opportunity.customer_name.ilike(like),
                Opportunity.summary.ilike(like),
                Opportunity.number.ilike(like),
                Opportunity.contact.ilike(like),
            )
        )
    if status:
        query = query.where(Opportunity.status == status)
    query = query.options(selectinload(Opportunity.assignee), selectinload(Opportunity.created_by))
    return paginate(query.order_by(Opportunity.id.desc()), page=page, per_page=per_page)


@unit_of_work
def create_opportunity(*, user: User, values: dict[str, Any]) -> Opportunity:
    """Record a new opportunity and start its assignment process; commits."""
    permissions.require(user, "opportunity.create")
    opportunity = Opportunity(
        **check(values, OPPORTUNITY),
        status=OpportunityStatus.UNASSIGNED.value,
        created_by_id=user.id,
        updated_by_id=user.id,
    )
    db.session.add(opportunity)
    db.session.flush()
    opportunity.number = RECORDS.get("opportunity").number(opportunity.id)
    instance = instances.start_instance(
        process_id=PROCESS_ID,
        business_type="opportunity",
        business_id=opportunity.id,
        owner_id=user.id,
        title=f"{opportunity.number} {opportunity.customer_name}",
        data={"opportunity_id": opportunity.id, "customer_name": opportunity.customer_name,
              "probability": opportunity.probability},
        user=user,
    )
    opportunity.process_instance_id = instance.id
    return opportunity


def _editable(opportunity_id: int, user: User, action: str) -> Opportunity:
    opportunity = get_opportunity(opportunity_id=opportunity_id, user=user)
    if not permissions.in_scope(user, action, [opportunity.created_by_id]):
        raise Forbidden("只有创建人可以修改或删除此销售机会")
    if opportunity.status != OpportunityStatus.UNASSIGNED:
        raise Conflict("销售机会已%(status)s，不能再修改或删除", code="opportunity_locked", status=opportunity.status)
    return opportunity


@unit_of_work
def update_opportunity(*, opportunity_id: int, user: User, values: dict[str, Any]) -> Opportunity:
    """Edit the given fields of an opportunity while it is still 未指派 (the result must still be valid); commits."""
    opportunity = _editable(opportunity_id, user, "opportunity.update")
    cleaned = check({**{name: getattr(opportunity, name) for name in EDITABLE_FIELDS}, **values}, OPPORTUNITY)
    for name in EDITABLE_FIELDS:
        if name in values:
            setattr(opportunity, name, cleaned[name])
    opportunity.updated_by_id = user.id
    return opportunity


@unit_of_work
def delete_opportunity(*, opportunity_id: int, user: User) -> None:
    """Delete a 未指派 opportunity (creator only) and end its process cleanly; commits."""
    opportunity = _editable(opportunity_id, user, "opportunity.delete")
    if opportunity.created_by_id != user.id:
        raise Forbidden("只有创建人可以删除此销售机会")
    if opportunity.process_instance_id:
        instance = db.session.get(ProcessInstance, opportunity.process_instance_id)
        if instance is not None:
            instances.cancel_instance(instance=instance, user=user, reason=f"销售机会 {opportunity.number} 已删除")
            instance.business_id = None
    db.session.delete(opportunity)
