"""Customer use cases (read side for now): scoped list and detail."""
from __future__ import annotations

from sqlalchemy import or_, select

from bpm_crm.errors import NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, User
from bpm_crm.services import permissions
from bpm_crm.services.paging import Page, paginate

OWNER_COLUMNS = (Customer.owner_id,)


def get_customer(*, customer_id: int, user: User) -> Customer:
    """A customer within the user's read scope; NotFound otherwise."""
    customer = db.session.scalar(
        select(Customer).where(
            Customer.id == customer_id, permissions.scope_clause(user, "customer.read", OWNER_COLUMNS)
        )
    )
    if customer is None:
        raise NotFound("客户不存在或您无权查看")
    return customer


def list_customers(*, user: User, q: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """The user's visible customers, newest first."""
    query = select(Customer).where(permissions.scope_clause(user, "customer.read", OWNER_COLUMNS))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(Customer.name.ilike(like), Customer.number.ilike(like), Customer.phone.ilike(like),
                Customer.contact_name.ilike(like))
        )
    return paginate(query.order_by(Customer.id.desc()), page=page, per_page=per_page)
