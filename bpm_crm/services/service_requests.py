"""Service request use cases (客户服务): record, read, edit and delete while 新创建, scoped by customer."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Customer, ServiceRequest, ServiceStatus, User
from bpm_crm.services import dictionary, permissions, recycle
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

EDITABLE_FIELDS = ("type", "summary", "customer_id", "detail")
LIMITS = {"type": 20, "summary": 200, "detail": 4000}
REQUIRED = {"type": "请选择服务类型", "summary": "请填写概要", "detail": "请填写服务请求"}
MAX_OPTIONS = 500
INVALID = "请更正标出的字段"


def _read_clause(user: User) -> ColumnElement[bool]:
    """Requests of customers within the user's service.read scope, plus those he created or handles."""
    if not permissions.can(user, "service.read"):
        return false()
    return or_(permissions.via_customer(user, ServiceRequest.customer_id, "service.read"),
               ServiceRequest.created_by_id == user.id, ServiceRequest.handler_id == user.id)


def get_request(*, request_id: int, user: User) -> ServiceRequest:
    """A service request within the user's read scope; NotFound otherwise."""
    record = db.session.scalar(select(ServiceRequest).where(_read_clause(user), ServiceRequest.id == request_id))
    if record is None:
        raise NotFound("客户服务不存在或您无权查看")
    return record


def request_query(
    *, user: User, q: str | None = None, type: str | None = None, status: str | None = None,  # noqa: A002
    customer_id: int | None = None,
) -> Select:
    """The scoped, searched and filtered query shared by the list, the export and the API."""
    query = select(ServiceRequest).where(_read_clause(user))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(
            ServiceRequest.number.ilike(like), ServiceRequest.summary.ilike(like),
            ServiceRequest.customer_id.in_(select(Customer.id).where(Customer.name.ilike(like)))))
    if type:
        query = query.where(ServiceRequest.type == type)
    if status:
        query = query.where(ServiceRequest.status == status)
    if customer_id:
        query = query.where(ServiceRequest.customer_id == customer_id)
    return query.options(selectinload(ServiceRequest.customer), selectinload(ServiceRequest.created_by),
                         selectinload(ServiceRequest.handler)).order_by(ServiceRequest.id.desc())


def list_requests(
    *, user: User, q: str | None = None, type: str | None = None, status: str | None = None,  # noqa: A002
    customer_id: int | None = None, page: int = 1, per_page: int = 20,
) -> Page:
    """The user's visible service requests, newest first."""
    return paginate(request_query(user=user, q=q, type=type, status=status, customer_id=customer_id),
                    page=page, per_page=per_page)


def customer_options(*, user: User) -> list[Customer]:
    """Customers the user may record a service request for, by name."""
    if not permissions.can(user, "service.create"):
        return []
    return list(db.session.scalars(select(Customer).where(permissions.customer_clause(user, "service.create"))
                                   .order_by(Customer.name, Customer.id).limit(MAX_OPTIONS)))


def may_change(user: User, record: ServiceRequest) -> bool:
    """Edit and delete: while 新创建, by its creator or someone handling service for its customer."""
    if record.status != ServiceStatus.NEW:
        return False
    if record.created_by_id == user.id:
        return True
    return permissions.can(user, "service.update") and permissions.customer_in_scope(
        user, record.customer_id, "service.update")


def _clean(values: dict[str, Any], user: User, current: ServiceRequest | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    merged: dict[str, Any] = {name: getattr(current, name) for name in EDITABLE_FIELDS} if current else {}
    merged.update({name: values[name] for name in EDITABLE_FIELDS if name in values})
    clean: dict[str, Any] = {}
    for name, limit in LIMITS.items():
        value = merged.get(name)
        text = value.strip() if isinstance(value, str) else None
        if not text:
            errors[name] = [REQUIRED[name]]
        elif len(text) > limit:
            errors[name] = [str(_("最多 %(count)s 个字符", count=limit))]
        clean[name] = text
    if "type" not in errors and clean["type"] not in dictionary.choices(dictionary.SERVICE_TYPE):
        errors["type"] = ["服务类型不在数据字典中"]
    customer_id = parse_id(merged.get("customer_id"))
    if customer_id is None:
        errors["customer_id"] = ["请选择客户"]
    elif customer_id != (current.customer_id if current else None) and not permissions.customer_in_scope(
            user, customer_id, "service.create"):
        errors["customer_id"] = ["客户不存在或您无权为其新建客户服务"]
    clean["customer_id"] = customer_id
    if errors:
        raise Invalid(INVALID, errors)
    return clean


@unit_of_work
def create_request(*, user: User, values: dict[str, Any]) -> ServiceRequest:
    """Record a customer's consultation, suggestion or complaint (status 新创建); commits."""
    permissions.require(user, "service.create")
    record = ServiceRequest(**_clean(values, user, None), status=ServiceStatus.NEW.value,
                            created_by_id=user.id, updated_by_id=user.id)
    db.session.add(record)
    db.session.flush()
    record.number = f"FW{record.id:06d}"
    return record


def _changeable(request_id: int, user: User) -> ServiceRequest:
    record = get_request(request_id=request_id, user=user)
    if record.status != ServiceStatus.NEW:
        raise Conflict("客户服务当前为“%(status)s”，不能再修改或删除", code="service_request_locked",
                       status=record.status)
    if not may_change(user, record):
        raise Forbidden("只有创建人或客服处理人员可以修改或删除此客户服务")
    return record


@unit_of_work
def update_request(*, request_id: int, user: User, values: dict[str, Any]) -> ServiceRequest:
    """Change a request while it is 新创建; commits."""
    record = _changeable(request_id, user)
    for name, value in _clean(values, user, record).items():
        setattr(record, name, value)
    record.updated_by_id = user.id
    return record


@unit_of_work
def delete_request(*, request_id: int, user: User) -> None:
    """Move a 新创建 request to the recycle bin; commits."""
    record = _changeable(request_id, user)
    customer = db.session.get(Customer, record.customer_id)
    recycle.move_to_bin(record=record, user=user, label=f"客户服务 {record.summary} ({record.number})",
                        owner_id=customer.owner_id if customer else None)
