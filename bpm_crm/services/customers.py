"""Customer use cases: the scoped list and record, create/edit/delete, the public pool, transfer and share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.customer import CUSTOMER
from bpm_crm.forms.rules import read_all
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import (
    HISTORY_STATUSES,
    Attachment,
    CareTask,
    ChurnWarning,
    Contact,
    Customer,
    CustomerLevel,
    CustomerShare,
    CustomerStatus,
    CustomerTransfer,
    Interaction,
    Opportunity,
    Order,
    ProcessInstance,
    Quote,
    ServiceRequest,
    User,
)
from bpm_crm.services import audit, dictionary, handover, permissions, recycle
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.people import active_users_with_role
from bpm_crm.services.transaction import unit_of_work

VIEWS = ("mine", "pool")
SORT_COLUMNS = {"name": Customer.name, "number": Customer.number, "level": Customer.level,
                "created_at": Customer.created_at, "updated_at": Customer.updated_at}
SORTS = tuple(key for name in SORT_COLUMNS for key in (name, f"-{name}"))
DEFAULT_SORT = "-created_at"
STATUSES = tuple(status.value for status in CustomerStatus)
EDITABLE_FIELDS = CUSTOMER.names
MONEY_FIELDS = tuple(rule.name for rule in CUSTOMER if rule.kind == "decimal")
# Kept by processes, not by hand: the churn process marks a customer 已流失, the level rules grade it.
PROCESS_FIELDS = {"status": "状态由流失处理流程维护，不能手工修改", "level": "等级由等级规则维护，不能手工修改"}
# Who maintains the dictionary and the level rules (admins) may still correct either by hand.
CORRECT_PROCESS_FIELDS = "dictionary.manage"
MAX_BATCH = 500
SECTION_SIZE = 5


def _like(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _get(customer_id: int, user: User, action: str = "customer.read") -> Customer:
    customer = db.session.scalar(
        select(Customer).where(Customer.id == customer_id, permissions.customer_clause(user, action)))
    if customer is None:
        raise NotFound("客户不存在或您无权查看")
    return customer


def get_customer(*, customer_id: int, user: User) -> Customer:
    """A customer within the user's read scope (own scope, shared with him, or the pool); NotFound otherwise."""
    return _get(customer_id, user)


def customer_query(
    *, user: User, q: str | None = None, view: str = "mine", region: str | None = None, level: str | None = None,
    status: str | None = None, owner_id: int | None = None, sort: str | None = None,
) -> Select:
    """The scoped, searched, filtered and sorted select behind the list, the export and the API."""
    if view not in VIEWS:
        raise Invalid("查询参数有误", {"view": ["应为 mine 或 pool"]})
    if sort and sort not in SORTS:
        raise Invalid("查询参数有误", {"sort": ["不支持的排序字段"]})
    query = select(Customer).where(permissions.customer_clause(user, "customer.read"))
    if view == "pool":
        permissions.require(user, "customer.claim")
        query = query.where(Customer.owner_id.is_(None))
    else:
        query = query.where(Customer.owner_id.is_not(None))
    if q and q.strip():
        like = _like(q)
        query = query.where(or_(
            Customer.name.ilike(like, escape="\\"), Customer.number.ilike(like, escape="\\"),
            Customer.phone.ilike(like, escape="\\"), Customer.address.ilike(like, escape="\\"),
            Customer.contact_name.ilike(like, escape="\\"),
            exists().where(Contact.customer_id == Customer.id, Contact.name.ilike(like, escape="\\")),
        ))
    if region:
        prefix = region.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Customer.region == region.strip(), Customer.region.like(f"{prefix}/%", escape="\\")))
    if level:
        query = query.where(Customer.level == level)
    if status:
        query = query.where(Customer.status == status)
    if owner_id is not None:
        query = query.where(Customer.owner_id == owner_id)
    key = sort or DEFAULT_SORT
    column: Any = SORT_COLUMNS[key.lstrip("-")]
    if key.lstrip("-") == "level":  # 普通 < 重点 < VIP: the dictionary's order, not the alphabet's
        levels = dictionary.choices(dictionary.LEVEL)
        column = case({level: rank for rank, level in enumerate(levels)}, value=Customer.level,
                      else_=len(levels))
    if key.startswith("-"):
        query = query.order_by(column.desc(), Customer.id.desc())
    else:
        query = query.order_by(column.asc(), Customer.id.asc())
    return query.options(selectinload(Customer.owner))


def list_customers(
    *, user: User, q: str | None = None, view: str = "mine", region: str | None = None, level: str | None = None,
    status: str | None = None, owner_id: int | None = None, sort: str | None = None, page: int = 1,
    per_page: int = 20,
) -> Page:
    """The user's visible customers ("mine": owned within his scope or shared; "pool": 公海), newest first."""
    query = customer_query(user=user, q=q, view=view, region=region, level=level, status=status,
                           owner_id=owner_id, sort=sort)
    return paginate(query, page=page, per_page=per_page)


def export_customers(*, user: User, limit: int, **filters: Any) -> list[Customer]:
    """Every customer of the filtered list (up to `limit`), for the Excel download; needs customer.export."""
    permissions.require(user, "customer.export")
    return list(db.session.scalars(customer_query(user=user, **filters).limit(limit)))


def shared_ids(*, user: User, customer_ids: list[int]) -> set[int]:
    """Which of these customers the user sees only because they are shared with him."""
    if not customer_ids:
        return set()
    return set(db.session.scalars(select(CustomerShare.customer_id).where(
        CustomerShare.user_id == user.id, CustomerShare.customer_id.in_(customer_ids))))


def allowed_actions(*, customer: Customer, user: User) -> set[str]:
    """What the user may do to this customer: update, delete, transfer, release, share, claim."""
    allowed = {action for action in ("update", "delete", "transfer", "share")
               if permissions.customer_in_scope(user, customer.id, f"customer.{action}")}
    if customer.owner_id is None:
        allowed.discard("share")
        if permissions.can(user, "customer.claim"):
            allowed.add("claim")
    elif customer.owner_id == user.id or "transfer" in allowed:
        allowed.add("release")
    return allowed


def assignable_owners(user: User) -> list[User]:
    """Active account managers the user may give customers to (transfer scope)."""
    if not permissions.can(user, "customer.transfer"):
        return []
    return active_users_with_role(user, "account_manager", "customer.transfer")


def owner_filter_choices(user: User) -> list[User]:
    """Owners of customers the user can see, for the list's owner filter (empty for own-scope users)."""
    if permissions.scope_for(user, "customer.read") in (None, permissions.Scope.OWN):
        return []
    return list(db.session.scalars(
        select(User).where(permissions.scope_clause(user, "customer.read", [User.id]),
                           User.id.in_(select(Customer.owner_id).where(Customer.owner_id.is_not(None))))
        .order_by(User.department_id, User.full_name)))


def share_candidates(*, customer: Customer) -> list[User]:
    """Active users the customer could still be shared with."""
    taken = select(CustomerShare.user_id).where(CustomerShare.customer_id == customer.id)
    query = select(User).where(User.active.is_(True), User.id.not_in(taken))
    if customer.owner_id is not None:
        query = query.where(User.id != customer.owner_id)
    return list(db.session.scalars(query.order_by(User.department_id, User.full_name)))


def _options() -> dict[str, list[str]]:
    """The values the customer's choice fields take from the data dictionary (and the status enum)."""
    return {
        "level": dictionary.choices(dictionary.LEVEL) or [level.value for level in CustomerLevel],
        "status": list(STATUSES),
        "region": dictionary.region_paths(),
        "industry": dictionary.choices(dictionary.INDUSTRY),
        "source": dictionary.choices(dictionary.SOURCE),
    }


def _clean(values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validated, normalised field values; Invalid with a message per field otherwise."""
    checked = read_all(values, CUSTOMER, partial=partial, options=_options())
    for name in PROCESS_FIELDS:  # a change must name a value; a new customer without one takes the default
        if name in checked.values and checked.values[name] is None:
            if partial:
                checked.fail(name, "请从列表中选择")
            else:
                del checked.values[name]
    return checked.done()


def locked_fields(user: User, *, creating: bool) -> set[str]:
    """The process-kept fields the user may not set: a new customer's level is free, its status is 正常."""
    if permissions.can(user, CORRECT_PROCESS_FIELDS):
        return set()
    return {"status"} if creating else set(PROCESS_FIELDS)


def _refuse_locked(user: User, cleaned: dict[str, Any], *, current: dict[str, Any], creating: bool) -> None:
    """Invalid naming each locked field the values would change (sending the current value is harmless)."""
    locked = locked_fields(user, creating=creating)
    errors = {name: [PROCESS_FIELDS[name]] for name in sorted(locked)
              if name in cleaned and cleaned[name] != current.get(name)}
    if errors:
        raise Invalid("请更正标出的字段", errors)


def _owner_for_new(user: User, owner_id: Any) -> int:
    if owner_id in (None, "", user.id):
        return user.id
    wanted = parse_id(owner_id)
    if wanted is not None and (wanted == user.id or wanted in {u.id for u in assignable_owners(user)}):
        return wanted
    raise Invalid("请选择一位在职的客户经理", {"owner_id": ["请选择一位在职的客户经理"]})


@unit_of_work
def create_customer(*, user: User, values: dict[str, Any]) -> Customer:
    """Record a new customer owned by the creator (or a chosen account manager); the number is KH + id; commits."""
    permissions.require(user, "customer.create")
    cleaned = _clean(values, partial=False)
    _refuse_locked(user, cleaned, current={"status": CustomerStatus.NORMAL.value}, creating=True)
    owner_id = _owner_for_new(user, values.get("owner_id"))
    customer = Customer(**cleaned, owner_id=owner_id, created_by_id=user.id, updated_by_id=user.id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    return customer


def _writable(customer_id: int, user: User, action: str, refusal: str) -> Customer:
    customer = _get(customer_id, user)
    if not permissions.customer_in_scope(user, customer_id, action):
        raise Forbidden(refusal)
    return customer


@unit_of_work
def update_customer(*, customer_id: int, user: User, values: dict[str, Any]) -> Customer:
    """Change the given fields (never the number or the owner; status and level only as an admin); commits."""
    customer = _writable(customer_id, user, "customer.update", "您只能查看此客户，不能修改")
    cleaned = _clean(values, partial=True)
    _refuse_locked(user, cleaned, current={name: getattr(customer, name) for name in PROCESS_FIELDS}, creating=False)
    for name, value in cleaned.items():
        setattr(customer, name, value)
    customer.updated_by_id = user.id
    return customer


@unit_of_work
def delete_customer(*, customer_id: int, user: User) -> None:
    """Move the customer with its contacts, records and attachments to the recycle bin; commits."""
    customer = _writable(customer_id, user, "customer.delete", "您没有删除此客户的权限")
    recycle.move_to_bin(record=customer, user=user, label=f"客户 {customer.name} ({customer.number})",
                        owner_id=customer.owner_id)


def _transfer_row(customer: Customer, *, kind: str, to_user_id: int | None, user: User,
                  reason: str | None) -> CustomerTransfer:
    row = CustomerTransfer(customer_id=customer.id, from_user_id=customer.owner_id, to_user_id=to_user_id,
                           by_user_id=user.id, kind=kind, reason=reason)
    db.session.add(row)
    return row


def _reason(reason: str | None) -> str | None:
    text = (reason or "").strip() or None
    if text is not None and len(text) > 200:
        raise Invalid("请更正标出的字段", {"reason": [str(_("最多 %(count)s 个字符", count=200))]})
    return text


@unit_of_work
def claim_customer(*, customer_id: int, user: User) -> Customer:
    """Take a customer from the public pool; of two simultaneous claims only one wins (Conflict); commits."""
    permissions.require(user, "customer.claim")
    # Only a customer still in the pool is taken: of two racing claims, one UPDATE finds no row.
    won = db.session.execute(
        update(Customer).where(Customer.id == customer_id, Customer.owner_id.is_(None))
        .values(owner_id=user.id, updated_by_id=user.id, updated_at=clock.utcnow_naive())
        .execution_options(synchronize_session=False))
    if won.rowcount != 1:  # type: ignore[attr-defined]
        if db.session.get(Customer, customer_id) is None:
            raise NotFound("客户不存在或您无权查看")
        raise Conflict("该客户已被他人领取")
    db.session.add(CustomerTransfer(customer_id=customer_id, from_user_id=None, to_user_id=user.id,
                                    by_user_id=user.id, kind="claim"))
    # The conditional UPDATE bypasses the flush hook, so the owner change is audited here.
    audit.record(record_type="customer", record_id=customer_id, action="update", user_id=user.id,
                 changes={"owner_id": [None, user.id]})
    db.session.flush()
    customer = db.session.get(Customer, customer_id)
    assert customer is not None
    db.session.refresh(customer)
    return customer


def _target_manager(user: User, to_user_id: Any) -> User:
    wanted = parse_id(to_user_id)
    target = next((u for u in assignable_owners(user) if u.id == wanted), None)
    if target is None:
        raise Invalid("请选择一位在职的客户经理", {"to_user_id": ["请选择一位在职的客户经理"]})
    return target


@unit_of_work
def transfer_customers(*, customer_ids: list[Any], to_user_id: Any, user: User,
                       reason: str | None = None) -> list[Customer]:
    """Give customers to another account manager (转移) with their pending work, one transfer record each; commits."""
    permissions.require(user, "customer.transfer")
    if not customer_ids:
        raise Invalid("请选择要转移的客户", {"customer_ids": ["请选择要转移的客户"]})
    parsed = [parse_id(i) for i in customer_ids]
    if None in parsed:
        raise Invalid("请更正标出的字段", {"customer_ids": ["应为记录编号（整数）"]})
    ids = list(dict.fromkeys(i for i in parsed if i is not None))
    if len(ids) > MAX_BATCH:
        raise Invalid("一次最多转移 500 个客户", {"customer_ids": ["一次最多转移 500 个客户"]})
    text = _reason(reason)
    target = _target_manager(user, to_user_id)
    found = {c.id: c for c in db.session.scalars(select(Customer).where(
        Customer.id.in_(ids), permissions.customer_clause(user, "customer.transfer")).with_for_update())}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound("客户不存在或您无权查看")
    moved = []
    for customer_id in ids:
        customer = found[customer_id]
        if customer.owner_id == target.id:
            continue
        _transfer_row(customer, kind="transfer", to_user_id=target.id, user=user, reason=text)
        handover.hand_over(customer=customer, from_user_id=customer.owner_id, to_user_id=target.id, user=user,
                           comment=text)
        customer.owner_id = target.id
        customer.updated_by_id = user.id
        db.session.execute(delete(CustomerShare).where(
            CustomerShare.customer_id == customer.id, CustomerShare.user_id == target.id))
        moved.append(customer)
    return moved


@unit_of_work
def release_customer(*, customer_id: int, user: User, reason: str | None = None) -> Customer:
    """Put a customer back into the public pool (owner or a user who may transfer it); commits."""
    customer = _get(customer_id, user)
    if customer.owner_id is None:
        raise Conflict("该客户已在公海中")
    if customer.owner_id != user.id and not permissions.customer_in_scope(user, customer_id, "customer.transfer"):
        raise Forbidden("只有客户经理本人或有转移权限的人可以将客户放入公海")
    _transfer_row(customer, kind="release", to_user_id=None, user=user, reason=_reason(reason))
    customer.owner_id = None
    customer.updated_by_id = user.id
    return customer


@unit_of_work
def share_customer(*, customer_id: int, user_id: int, user: User) -> CustomerShare:
    """Let another active user read the customer (共享, read-only); sharing twice changes nothing; commits."""
    customer = _writable(customer_id, user, "customer.share", "您没有共享此客户的权限")
    if customer.owner_id is None:
        raise Conflict("公海客户不能共享")
    wanted = parse_id(user_id)
    target = db.session.get(User, wanted) if wanted is not None else None
    if target is None or not target.active:
        raise Invalid("目标用户不存在或已停用", {"user_id": ["目标用户不存在或已停用"]})
    if target.id == customer.owner_id:
        raise Invalid("不能共享给客户经理本人", {"user_id": ["不能共享给客户经理本人"]})
    existing = db.session.scalar(select(CustomerShare).where(
        CustomerShare.customer_id == customer.id, CustomerShare.user_id == target.id))
    if existing is not None:
        return existing
    share = CustomerShare(customer_id=customer.id, user_id=target.id, shared_by_id=user.id)
    db.session.add(share)
    return share


@unit_of_work
def unshare_customer(*, customer_id: int, user_id: int, user: User) -> None:
    """Stop sharing the customer with this user; commits."""
    customer = _writable(customer_id, user, "customer.share", "您没有共享此客户的权限")
    share = db.session.scalar(select(CustomerShare).where(
        CustomerShare.customer_id == customer.id, CustomerShare.user_id == user_id))
    if share is None:
        raise NotFound("该客户未共享给此用户")
    db.session.delete(share)


@dataclass
class Section:
    """One block of the customer page: how many records there are and the newest few."""

    count: int
    items: list[Any] = field(default_factory=list)


@dataclass
class CustomerOverview:
    """Everything linked to a customer (客户 360): sections, shares, transfer history and allowed actions."""

    customer: Customer
    sections: dict[str, Section]
    shares: list[CustomerShare]
    transfers: list[CustomerTransfer]
    actions: set[str]
    shared_with_me: bool


def _section(query: Select, *order: Any) -> Section:
    count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.order_by(*order).limit(SECTION_SIZE))) if count else []
    return Section(count=count, items=items)


def _opportunity_clause(customer: Customer, user: User) -> ColumnElement[bool]:
    from bpm_crm.services.opportunities import OWNER_COLUMNS

    named = and_(Opportunity.customer_name == customer.name,
                 permissions.scope_clause(user, "opportunity.read", OWNER_COLUMNS))
    if customer.opportunity_id is None:
        return named
    return or_(Opportunity.id == customer.opportunity_id, named)


def customer_overview(*, customer_id: int, user: User) -> CustomerOverview:
    """The customer 360 page: per linked record type its count and newest rows, plus shares and transfers."""
    customer = _get(customer_id, user)
    cid = customer.id
    opportunity_clause = _opportunity_clause(customer, user)
    instance_ids = (
        select(Opportunity.process_instance_id).where(opportunity_clause)
        .union(select(Quote.process_instance_id).where(Quote.customer_id == cid),
               select(ServiceRequest.process_instance_id).where(ServiceRequest.customer_id == cid),
               select(ChurnWarning.process_instance_id).where(ChurnWarning.customer_id == cid)))
    sections = {
        "contacts": _section(select(Contact).where(Contact.customer_id == cid), Contact.id.desc()),
        "interactions": _section(select(Interaction).where(Interaction.customer_id == cid),
                                 Interaction.date.desc(), Interaction.id.desc()),
        "opportunities": _section(select(Opportunity).where(opportunity_clause), Opportunity.id.desc()),
        "quotes": _section(select(Quote).where(Quote.customer_id == cid), Quote.id.desc()),
        "orders": _section(select(Order).where(Order.customer_id == cid, Order.status.in_(HISTORY_STATUSES)),
                           Order.order_date.desc(), Order.id.desc()),
        "service": _section(select(ServiceRequest).where(ServiceRequest.customer_id == cid),
                            ServiceRequest.id.desc()),
        "churn": _section(select(ChurnWarning).where(ChurnWarning.customer_id == cid), ChurnWarning.id.desc()),
        "care": _section(select(CareTask).where(CareTask.customer_id == cid),
                         CareTask.due_date.desc(), CareTask.id.desc()),
        "processes": _section(select(ProcessInstance).where(or_(
            ProcessInstance.id.in_(select(instance_ids.subquery().c[0])),
            and_(ProcessInstance.business_type == "customer", ProcessInstance.business_id == cid))),
            ProcessInstance.started_at.desc(), ProcessInstance.id.desc()),
        "attachments": _section(select(Attachment).where(Attachment.record_type == "customer",
                                                         Attachment.record_id == cid), Attachment.id.desc()),
    }
    shares = list(db.session.scalars(select(CustomerShare).where(CustomerShare.customer_id == cid)
                                     .options(selectinload(CustomerShare.user)).order_by(CustomerShare.id)))
    transfers = list(db.session.scalars(select(CustomerTransfer).where(CustomerTransfer.customer_id == cid)
                                        .order_by(CustomerTransfer.id.desc())))
    return CustomerOverview(
        customer=customer, sections=sections, shares=shares, transfers=transfers,
        actions=allowed_actions(customer=customer, user=user),
        shared_with_me=any(share.user_id == user.id for share in shares) and customer.owner_id != user.id,
    )
