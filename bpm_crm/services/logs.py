"""Reading the safety nets: the login log (登录日志) and the audit log (审计日志), whole or per record."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import (
    AuditLog,
    LoginEvent,
    User,
)
from bpm_crm.services import audit, permissions
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.records import RECORDS

ACTIONS = ("create", "update", "delete", "restore")


def record_types() -> list[str]:
    """The record types the audit log knows, in a stable order."""
    return audit.record_types()


def _local_day_start(day: date) -> datetime:
    """Midnight of a local calendar day as the naive UTC timestamp the tables store."""
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")
    return datetime.combine(day, time.min, zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _date_range(query: Select, column: Any, date_from: date | None, date_to: date | None) -> Select:
    if date_from and date_to and date_from > date_to:
        raise Invalid("开始日期不能晚于结束日期", {"date_to": ["结束日期不能早于开始日期"]})
    if date_from:
        query = query.where(column >= _local_day_start(date_from))
    if date_to:
        query = query.where(column < _local_day_start(date_to + timedelta(days=1)))
    return query


def list_login_events(
    *, user: User, username: str | None = None, success: bool | None = None, channel: str | None = None,
    date_from: date | None = None, date_to: date | None = None, page: int = 1, per_page: int = 20,
) -> Page:
    """Sign-in attempts, newest first; needs audit.read (attempts on unknown names only with scope all)."""
    permissions.require(user, "audit.read")
    query = select(LoginEvent).where(permissions.scope_clause(user, "audit.read", [LoginEvent.user_id]))
    if username:
        query = query.where(LoginEvent.username.ilike(f"%{username.strip()}%"))
    if success is not None:
        query = query.where(LoginEvent.success.is_(success))
    if channel:
        query = query.where(LoginEvent.channel == channel)
    query = _date_range(query, LoginEvent.at, date_from, date_to)
    return paginate(query.order_by(LoginEvent.id.desc()), page=page, per_page=per_page)


def list_audit_entries(
    *, user: User, record_type: str | None = None, record_id: int | None = None, actor_id: int | None = None,
    action: str | None = None, date_from: date | None = None, date_to: date | None = None, page: int = 1,
    per_page: int = 20,
) -> Page:
    """Audit entries, newest first, filtered; needs audit.read and shows changes made by people in scope."""
    permissions.require(user, "audit.read")
    query = select(AuditLog).where(permissions.scope_clause(user, "audit.read", [AuditLog.user_id]))
    if record_type:
        query = query.where(AuditLog.record_type == record_type)
    if record_id is not None:
        query = query.where(AuditLog.record_id == record_id)
    if actor_id is not None:
        query = query.where(AuditLog.user_id == actor_id)
    if action:
        query = query.where(AuditLog.action == action)
    query = _date_range(query, AuditLog.at, date_from, date_to)
    query = query.options(selectinload(AuditLog.user))
    return paginate(query.order_by(AuditLog.id.desc()), page=page, per_page=per_page)


def _may_read_record(user: User, record_type: str, record_id: int) -> bool:
    if record_type == "customer":
        return permissions.customer_in_scope(user, record_id)
    # A record that belongs to a customer: its history is readable by whoever may read the customer.
    declared = RECORDS.find(record_type)
    model: Any = declared.model if declared is not None else None
    if model is None or not hasattr(model, "customer_id"):
        return False
    customer_id = db.session.scalar(select(model.customer_id).where(model.id == record_id))
    return customer_id is not None and permissions.customer_in_scope(user, customer_id)


def record_history(*, record_type: str, record_id: int, user: User, record_checked: bool = False,
                   limit: int = 200) -> list[AuditLog]:
    """Every audit entry of one record, oldest first.

    Allowed with audit.read, or when the caller already checked that the user may read the record
    (`record_checked`), or when the record belongs to a customer the user may read.
    """
    if not (record_checked or permissions.can(user, "audit.read") or _may_read_record(user, record_type, record_id)):
        raise Forbidden("您没有查看此记录变更历史的权限")
    return list(db.session.scalars(
        select(AuditLog).where(AuditLog.record_type == record_type, AuditLog.record_id == record_id)
        .options(selectinload(AuditLog.user)).order_by(AuditLog.id).limit(limit)))
