"""Quote use cases (报价): drafts with lines, totals recomputed on every change, scoped by customer."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.quote import MAX_PRICE, QUOTE, QUOTE_LINE
from bpm_crm.forms.rules import INVALID, read_all
from bpm_crm.models import Contact, Customer, Product, Quote, QuoteLine, QuoteStatus, User
from bpm_crm.services import permissions, recycle
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

HEADER_FIELDS = QUOTE.names
LINE_FIELDS = QUOTE_LINE.names
CENT = Decimal("0.01")
MAX_OPTIONS = 500


def line_amount(*, quantity: int, unit_price: Decimal, discount_pct: Decimal) -> Decimal:
    """quantity × unit price × (1 − discount/100), rounded half up to cents."""
    gross = Decimal(quantity) * unit_price * (Decimal(100) - discount_pct) / Decimal(100)
    return gross.quantize(CENT, rounding=ROUND_HALF_UP)


def _read_clause(user: User) -> ColumnElement[bool]:
    """Quotes of customers the user may read, and the ones he wrote (after a transfer, read-only)."""
    if not permissions.can(user, "quote.read"):
        return false()
    return or_(permissions.via_customer(user, Quote.customer_id), Quote.created_by_id == user.id)


def _visible(user: User) -> Select:
    return select(Quote).where(_read_clause(user))


def get_quote(*, quote_id: int, user: User) -> Quote:
    """A quote whose customer the user may read, or that he wrote (and who may read quotes); NotFound otherwise."""
    quote = db.session.scalar(_visible(user).where(Quote.id == quote_id))
    if quote is None:
        raise NotFound("报价不存在或您无权查看")
    return quote


def quote_query(
    *, user: User, q: str | None = None, status: str | None = None, customer_id: int | None = None
) -> Select:
    """The scoped, searched and filtered quote query shared by the list, the export and the API."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Quote.number.ilike(like), Quote.name.ilike(like),
                                Quote.customer_id.in_(select(Customer.id).where(Customer.name.ilike(like)))))
    if status:
        query = query.where(Quote.status == status)
    if customer_id:
        query = query.where(Quote.customer_id == customer_id)
    return query.options(selectinload(Quote.customer), selectinload(Quote.contact),
                         selectinload(Quote.created_by)).order_by(Quote.id.desc())


def list_quotes(
    *, user: User, q: str | None = None, status: str | None = None, customer_id: int | None = None,
    page: int = 1, per_page: int = 20,
) -> Page:
    """The user's visible quotes, newest first."""
    return paginate(quote_query(user=user, q=q, status=status, customer_id=customer_id), page=page,
                    per_page=per_page)


def may_update(user: User, quote: Quote) -> bool:
    """Whether the user may change this quote's content (status aside)."""
    return permissions.can(user, "quote.update") and permissions.customer_in_scope(
        user, quote.customer_id, "customer.update")


def may_delete(user: User, quote: Quote) -> bool:
    return permissions.can(user, "quote.delete") and permissions.customer_in_scope(
        user, quote.customer_id, "customer.update")


def customer_options(*, user: User) -> list[Customer]:
    """Customers the user may quote to (those he may update), by name."""
    if not permissions.can(user, "quote.create"):
        return []
    return list(db.session.scalars(select(Customer).where(permissions.customer_clause(user, "customer.update"))
                                   .order_by(Customer.name, Customer.id).limit(MAX_OPTIONS)))


def contact_options(*, customer_ids: list[int]) -> list[Contact]:
    """The contacts of these customers, by customer and name."""
    if not customer_ids:
        return []
    return list(db.session.scalars(select(Contact).where(Contact.customer_id.in_(customer_ids))
                                   .order_by(Contact.customer_id, Contact.name).limit(MAX_OPTIONS * 4)))


def product_options() -> list[Product]:
    """Catalog products offered on quote lines, by name."""
    return list(db.session.scalars(select(Product).order_by(Product.name, Product.id).limit(MAX_OPTIONS)))


def _clean_header(values: dict[str, Any], user: User, current: Quote | None) -> dict[str, Any]:
    merged = {name: getattr(current, name) for name in HEADER_FIELDS} if current else {}
    merged.update({name: values[name] for name in HEADER_FIELDS if name in values})
    checked = read_all(merged, QUOTE)
    customer_id, contact_id = checked.values.get("customer_id"), checked.values.get("contact_id")
    if customer_id is not None and customer_id != (current.customer_id if current else None) \
            and not permissions.customer_in_scope(user, customer_id, "customer.update"):
        checked.fail("customer_id", "客户不存在或您无权为其报价")
    if contact_id is not None and customer_id is not None:
        owner = db.session.scalar(select(Contact.customer_id).where(Contact.id == contact_id))
        if owner != customer_id:
            checked.fail("contact_id", "联系人不属于该客户")
    return checked.done()


def _clean_line(values: dict[str, Any], current: QuoteLine | None) -> dict[str, Any]:
    merged = {name: getattr(current, name) for name in LINE_FIELDS} if current else {}
    merged.update({name: values[name] for name in LINE_FIELDS if name in values})
    checked = read_all(merged, QUOTE_LINE)
    clean = checked.values
    product: Product | None = None
    if clean.get("product_id") is not None:
        product = db.session.get(Product, clean["product_id"])
        if product is None:
            checked.fail("product_id", "产品不存在")
    name = clean.get("product_name")
    # A chosen product names the line unless a name is given with it.
    if product is not None and (not name or "product_id" in values and "product_name" not in values):
        clean["product_name"] = name = product.name
    if not name and "product_id" not in checked.errors and "product_name" not in checked.errors:
        checked.fail("product_name", "请选择产品或填写产品名称")
    clean = checked.done()
    clean["amount"] = line_amount(quantity=clean["quantity"], unit_price=clean["unit_price"],
                                  discount_pct=clean["discount_pct"])
    if clean["amount"] > MAX_PRICE:
        raise Invalid(INVALID, {"quantity": ["金额过大"]})
    return clean


def recompute_total(quote: Quote) -> Decimal:
    """Set the quote's total to the sum of its line amounts."""
    quote.total = sum((line.amount for line in quote.lines), Decimal("0.00")).quantize(CENT)
    return quote.total


@unit_of_work
def create_quote(*, user: User, values: dict[str, Any], lines: list[dict[str, Any]] | None = None) -> Quote:
    """A new draft quote for a customer the user may update, with optional lines; commits."""
    permissions.require(user, "quote.create")
    errors: dict[str, list[str]] = {}
    header: dict[str, Any] = {}
    try:
        header = _clean_header(values, user, None)
    except Invalid as exc:
        errors.update(exc.field_errors)
    cleaned: list[dict[str, Any]] = []
    for index, line in enumerate(lines or []):
        try:
            cleaned.append(_clean_line(line, None))
        except Invalid as exc:
            errors.update({f"lines.{index}.{name}": messages for name, messages in exc.field_errors.items()})
    if errors:
        raise Invalid(INVALID, errors)
    quote = Quote(**header, status=QuoteStatus.DRAFT.value, created_by_id=user.id, updated_by_id=user.id)
    quote.lines = [QuoteLine(**line) for line in cleaned]
    recompute_total(quote)
    db.session.add(quote)
    db.session.flush()
    quote.number = f"BJ{quote.id:06d}"
    return quote


def _writable(quote_id: int, user: User, action: str = "quote.update") -> Quote:
    quote = get_quote(quote_id=quote_id, user=user)
    allowed = may_delete(user, quote) if action == "quote.delete" else may_update(user, quote)
    if not allowed:
        raise Forbidden("您没有修改此报价的权限")
    if action == "quote.delete" and quote.status != QuoteStatus.DRAFT:
        raise Conflict("报价当前为“%(status)s”，只有草稿可以修改或删除", code="quote_not_draft", status=quote.status)
    if quote.status not in (QuoteStatus.DRAFT, QuoteStatus.REJECTED):
        # In approval the quote is locked: approvers decide on what they see. A rejected one is revised.
        raise Conflict("报价当前为“%(status)s”，审批中或已批准的报价不能修改", code="quote_locked", status=quote.status)
    return quote


def _touch(quote: Quote, user: User) -> None:
    recompute_total(quote)
    quote.updated_by_id = user.id


@unit_of_work
def update_quote(*, quote_id: int, user: User, values: dict[str, Any]) -> Quote:
    """Change a draft's header (customer, contact, name, date, remarks); commits."""
    quote = _writable(quote_id, user)
    header = _clean_header(values, user, quote)
    for name, value in header.items():
        setattr(quote, name, value)
    _touch(quote, user)
    return quote


@unit_of_work
def add_line(*, quote_id: int, user: User, values: dict[str, Any]) -> QuoteLine:
    """Add a line to a draft and recompute its total; commits."""
    quote = _writable(quote_id, user)
    line = QuoteLine(**_clean_line(values, None))
    quote.lines.append(line)
    _touch(quote, user)
    return line


def _line(quote: Quote, line_id: int) -> QuoteLine:
    for line in quote.lines:
        if line.id == line_id:
            return line
    raise NotFound("报价明细不存在", code="quote_line_not_found")


@unit_of_work
def update_line(*, quote_id: int, line_id: int, user: User, values: dict[str, Any]) -> QuoteLine:
    """Change a line of a draft and recompute its total; commits."""
    quote = _writable(quote_id, user)
    line = _line(quote, line_id)
    for name, value in _clean_line(values, line).items():
        setattr(line, name, value)
    _touch(quote, user)
    return line


@unit_of_work
def delete_line(*, quote_id: int, line_id: int, user: User) -> Quote:
    """Remove a line from a draft and recompute its total; commits."""
    quote = _writable(quote_id, user)
    quote.lines.remove(_line(quote, line_id))
    _touch(quote, user)
    return quote


@unit_of_work
def delete_quote(*, quote_id: int, user: User) -> None:
    """Move a draft with its lines and attachments to the recycle bin; commits."""
    quote = _writable(quote_id, user, "quote.delete")
    customer = db.session.get(Customer, quote.customer_id)
    recycle.move_to_bin(record=quote, user=user, label=f"报价 {quote.name} ({quote.number})",
                        owner_id=customer.owner_id if customer else None)

