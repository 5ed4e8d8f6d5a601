"""What the records belonging to a customer share: input checking, the writable customer, the local day."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Customer, User
from bpm_crm.services import permissions

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[0-9+\-() ]{5,40}$")
INVALID = "请更正标出的字段"
CUSTOMER_CHOICES_LIMIT = 1000


def local_today() -> date:
    """Today in the company's time zone (Asia/Shanghai unless configured), on the product clock."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    return clock.now().astimezone(ZoneInfo(name or "Asia/Shanghai")).date()


class Checker:
    """Reads a dict of submitted values, collecting one message per bad field; `done()` raises them all."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, max_length: int, required: str | None = None) -> str | None:
        """A trimmed string (None when empty); `required` is the message when it must be given."""
        raw = self.values.get(name)
        if raw is not None and not isinstance(raw, str):
            self.fail(name, "应为文本")
            return None
        value = (raw or "").strip() or None
        if value is None and required:
            self.fail(name, required)
        elif value is not None and len(value) > max_length:
            self.fail(name, str(_("最多 %(count)s 个字符", count=max_length)))
            return None
        return value

    def choice(self, name: str, options: list[str], required: str, message: str) -> str | None:
        value = self.text(name, 60, required)
        if value is not None and value not in options:
            self.fail(name, message)
            return None
        return value

    def pattern(self, name: str, max_length: int, regex: re.Pattern[str], message: str,
                required: str | None = None) -> str | None:
        value = self.text(name, max_length, required)
        if value is not None and not regex.match(value):
            self.fail(name, message)
            return None
        return value

    def day(self, name: str, required: str | None = None) -> date | None:
        """A date, given as a date or as YYYY-MM-DD text."""
        raw = self.values.get(name)
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.fail(name, required)
            return None
        try:
            return date.fromisoformat(str(raw).strip())
        except ValueError:
            self.fail(name, "日期格式应为 YYYY-MM-DD")
            return None

    def identifier(self, name: str, required: str | None = None) -> int | None:
        """A record id, given as a number or as digits."""
        raw = self.values.get(name)
        if raw is None or raw == "":
            if required:
                self.fail(name, required)
            return None
        value = parse_id(raw)
        if value is None:
            self.fail(name, "应为记录编号（整数）")
        return value

    def done(self) -> None:
        if self.errors:
            raise Invalid(INVALID, self.errors)


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
