"""What the records belonging to a customer share: the writable customer, the customer select, the local day."""
from __future__ import annotations

from datetime import date

from flask import current_app, has_app_context
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.rules import INVALID
from bpm_crm.models import Customer, User
from bpm_crm.services import permissions

CUSTOMER_CHOICES_LIMIT = 1000


def local_today() -> date:
    """Today in the company's time zone (Asia/Shanghai unless configured), on the product clock."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    return clock.today(name or "Asia/Shanghai")


def writable_customer(*, user: User, customer_id: int, action: str, refused: str) -> Customer:
    """The customer a new or changed record will belong to.

    Invisible → a field error (nothing leaks); visible but not the user's to change (shared, pool) → Forbidden.
    """
    customer = db.session.scalar(select(Customer).where(
        Customer.id == customer_id, permissions.customer_clause(user, "customer.read")))
    if customer is None and permissions.customer_in_scope(user, customer_id, action):
        customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise Invalid(INVALID, {"customer_id": ["客户不存在或您无权查看"]})
    if not permissions.customer_in_scope(user, customer_id, action):
        raise Forbidden(refused)
    return customer


def customer_choices(*, user: User, action: str = "customer.update",
                     include_id: int | None = None) -> list[tuple[int, str]]:
    """(id, "name（number）") of customers the user may add records to, by name; capped for the select box."""
    query = (select(Customer.id, Customer.name, Customer.number)
             .where(permissions.customer_clause(user, action))
             .order_by(Customer.name, Customer.id).limit(CUSTOMER_CHOICES_LIMIT))
    rows = list(db.session.execute(query))
    if include_id is not None and all(row.id != include_id for row in rows):
        extra = db.session.execute(select(Customer.id, Customer.name, Customer.number).where(
            Customer.id == include_id, permissions.customer_clause(user, action))).first()
        if extra is not None:
            rows.insert(0, extra)
    return [(row.id, f"{row.name}（{row.number}）" if row.number else row.name) for row in rows]


def customer_label(customer: Customer) -> str:
    return f"{customer.name} ({customer.number})" if customer.number else customer.name


def readable_customer(*, user: User, customer_id: int) -> Customer:
    """A customer the user may read (for a list filtered to it); NotFound otherwise."""
    customer = db.session.scalar(select(Customer).where(
        Customer.id == customer_id, permissions.customer_clause(user, "customer.read")))
    if customer is None:
        raise NotFound("客户不存在或您无权查看")
    return customer


def customer_for_new_record(*, user: User, customer_id: int, action: str, refused: str) -> Customer:
    """The customer a "new record" page is opened for: NotFound if invisible, Forbidden if only readable."""
    customer = readable_customer(user=user, customer_id=customer_id)
    if not permissions.customer_in_scope(user, customer_id, action):
        raise Forbidden(refused)
    return customer
