"""Contact use cases (联系人): the people at a customer — list, read, create, edit, delete to the bin."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import joinedload

from bpm_crm.errors import Conflict, Forbidden, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.contact import CONTACT
from bpm_crm.forms.rules import check
from bpm_crm.models import CareTask, Contact, Customer, Quote, User
from bpm_crm.services import permissions, recycle
from bpm_crm.services.customer_records import customer_label, writable_customer
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

FIELDS = CONTACT.names
SORTS = ("name", "newest")
WRITE = "customer.update"


def _visible(user: User) -> Select:
    return (select(Contact).join(Contact.customer)
            .where(permissions.via_customer(user, Contact.customer_id))
            .options(joinedload(Contact.customer)))


def get_contact(*, contact_id: int, user: User) -> Contact:
    """A contact whose customer the user may read; NotFound otherwise."""
    contact = db.session.scalar(_visible(user).where(Contact.id == contact_id))
    if contact is None:
        raise NotFound("联系人不存在或您无权查看")
    return contact


def list_contacts(*, user: User, q: str | None = None, customer_id: int | None = None, sort: str = "newest",
                  page: int = 1, per_page: int = 20) -> Page:
    """Visible contacts, searched by name, phones, email or customer name, by name or newest first."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Contact.name.ilike(like), Contact.mobile.ilike(like),
                                Contact.office_phone.ilike(like), Contact.email.ilike(like),
                                Customer.name.ilike(like)))
    if customer_id is not None:
        query = query.where(Contact.customer_id == customer_id)
    order = (Contact.name, Contact.id) if sort == "name" else (Contact.id.desc(),)
    return paginate(query.order_by(*order), page=page, per_page=per_page)


def export_contacts(*, user: User, limit: int, **filters: Any) -> list[Contact]:
    """Every visible contact matching the list filters (up to `limit`), for a download."""
    permissions.require(user, "customer.export")
    return list_contacts(user=user, page=1, per_page=limit, **filters).items


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return check(values, CONTACT)


def _current(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in FIELDS}


@unit_of_work
def create_contact(*, user: User, values: dict[str, Any]) -> Contact:
    """Add a contact to a customer the user may update; commits."""
    permissions.require(user, WRITE)
    cleaned = _clean(values)
    writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                      refused="您只能查看此客户，不能为其添加联系人")
    contact = Contact(**cleaned, created_by_id=user.id, updated_by_id=user.id)
    db.session.add(contact)
    db.session.flush()
    return contact


def _writable(contact_id: int, user: User) -> Contact:
    contact = get_contact(contact_id=contact_id, user=user)
    if not permissions.customer_in_scope(user, contact.customer_id, WRITE):
        raise Forbidden("您只能查看此联系人，不能修改或删除")
    return contact


@unit_of_work
def update_contact(*, contact_id: int, user: User, values: dict[str, Any]) -> Contact:
    """Change some fields of a contact (the result must still be valid); commits."""
    contact = _writable(contact_id, user)
    cleaned = _clean({**_current(contact), **values})
    if cleaned["customer_id"] != contact.customer_id:
        writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                          refused="您只能查看此客户，不能为其添加联系人")
    for name, value in cleaned.items():
        setattr(contact, name, value)
    contact.updated_by_id = user.id
    db.session.flush()
    db.session.refresh(contact, ["customer"])
    return contact


@unit_of_work
def delete_contact(*, contact_id: int, user: User) -> None:
    """Move a contact to the recycle bin (restorable by the customer's owner); commits."""
    contact = _writable(contact_id, user)
    for model, message in ((Quote, "该联系人已用于报价，不能删除"),
                           (CareTask, "该联系人有客户关怀任务，请先删除这些任务或改选联系人")):
        if db.session.scalar(select(model.id).where(model.contact_id == contact.id).limit(1)) is not None:
            raise Conflict(message)
    recycle.move_to_bin(record=contact, user=user, label=f"联系人 {contact.name} · {customer_label(contact.customer)}",
                        owner_id=contact.customer.owner_id)
