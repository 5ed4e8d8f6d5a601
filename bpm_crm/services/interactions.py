"""Interaction use cases (交往记录): visits, calls and meetings with a customer."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import joinedload

from bpm_crm.errors import Forbidden, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.interaction import INTERACTION
from bpm_crm.forms.rules import read_all
from bpm_crm.models import Customer, Interaction, User
from bpm_crm.services import permissions, recycle
from bpm_crm.services.customer_records import customer_label, local_today, writable_customer
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

FIELDS = INTERACTION.names
SORTS = ("date", "newest")
WRITE = "customer.update"


def _visible(user: User) -> Select:
    return (select(Interaction).join(Interaction.customer)
            .where(permissions.via_customer(user, Interaction.customer_id))
            .options(joinedload(Interaction.customer), joinedload(Interaction.created_by)))


def get_interaction(*, interaction_id: int, user: User) -> Interaction:
    """An interaction whose customer the user may read; NotFound otherwise."""
    interaction = db.session.scalar(_visible(user).where(Interaction.id == interaction_id))
    if interaction is None:
        raise NotFound("交往记录不存在或您无权查看")
    return interaction


def list_interactions(*, user: User, q: str | None = None, customer_id: int | None = None, sort: str = "date",
                      page: int = 1, per_page: int = 20) -> Page:
    """Visible interactions, searched by place, summary, detail or customer name; latest date first."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Interaction.place.ilike(like), Interaction.summary.ilike(like),
                                Interaction.detail.ilike(like), Customer.name.ilike(like)))
    if customer_id is not None:
        query = query.where(Interaction.customer_id == customer_id)
    order = (Interaction.id.desc(),) if sort == "newest" else (Interaction.date.desc(), Interaction.id.desc())
    return paginate(query.order_by(*order), page=page, per_page=per_page)


def export_interactions(*, user: User, limit: int, **filters: Any) -> list[Interaction]:
    """Every visible interaction matching the list filters (up to `limit`), for a download."""
    permissions.require(user, "customer.export")
    return list_interactions(user=user, page=1, per_page=limit, **filters).items


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    checked = read_all(values, INTERACTION)
    day = checked.values.get("date")
    if day is not None and day > local_today():
        checked.fail("date", "交往日期不能晚于今天")
    return checked.done()


@unit_of_work
def create_interaction(*, user: User, values: dict[str, Any]) -> Interaction:
    """Record an interaction with a customer the user may update; commits."""
    permissions.require(user, WRITE)
    cleaned = _clean(values)
    writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                      refused="您只能查看此客户，不能为其添加交往记录")
    interaction = Interaction(**cleaned, created_by_id=user.id, updated_by_id=user.id)
    db.session.add(interaction)
    db.session.flush()
    return interaction


def _writable(interaction_id: int, user: User) -> Interaction:
    interaction = get_interaction(interaction_id=interaction_id, user=user)
    if not permissions.customer_in_scope(user, interaction.customer_id, WRITE):
        raise Forbidden("您只能查看此交往记录，不能修改或删除")
    return interaction


@unit_of_work
def update_interaction(*, interaction_id: int, user: User, values: dict[str, Any]) -> Interaction:
    """Change some fields of an interaction (the result must still be valid); commits."""
    interaction = _writable(interaction_id, user)
    cleaned = _clean({**{name: getattr(interaction, name) for name in FIELDS}, **values})
    if cleaned["customer_id"] != interaction.customer_id:
        writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                          refused="您只能查看此客户，不能为其添加交往记录")
    for name, value in cleaned.items():
        setattr(interaction, name, value)
    interaction.updated_by_id = user.id
    db.session.flush()
    db.session.refresh(interaction, ["customer"])
    return interaction


@unit_of_work
def delete_interaction(*, interaction_id: int, user: User) -> None:
    """Move an interaction to the recycle bin (restorable by the customer's owner); commits."""
    interaction = _writable(interaction_id, user)
    label = f"交往记录 {interaction.date.isoformat()} {interaction.summary} · {customer_label(interaction.customer)}"
    recycle.move_to_bin(record=interaction, user=user, label=label, owner_id=interaction.customer.owner_id)
