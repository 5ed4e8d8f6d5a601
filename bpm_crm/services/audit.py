"""The audit log: every flush records who created, changed or deleted which record, field by field."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import g, has_request_context
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from bpm_crm.models import (
    AuditLog,
    CareTask,
    ChurnWarning,
    Contact,
    Customer,
    Department,
    DictionaryEntry,
    Interaction,
    InventoryItem,
    LevelRule,
    Opportunity,
    Product,
    Quote,
    QuoteLine,
    RolePermission,
    ServiceRequest,
    User,
    Warehouse,
)

# Audited tables and the name their entries carry.
RECORD_TYPES: dict[type, str] = {
    Customer: "customer", Contact: "contact", Interaction: "interaction", Opportunity: "opportunity",
    Quote: "quote", QuoteLine: "quote_line", ServiceRequest: "service_request", ChurnWarning: "churn_warning",
    CareTask: "care_task", Product: "product", Warehouse: "warehouse", InventoryItem: "inventory",
    DictionaryEntry: "dictionary", LevelRule: "level_rule", User: "user", Department: "department",
    RolePermission: "role_permission",
}
IGNORED = {"created_at", "updated_at", "created_by_id", "updated_by_id", "password_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def actor_id(record: Any = None) -> int | None:
    """The signed-in user of this request (page or API); else whoever the record says changed it."""
    if has_request_context():
        api_user = g.get("api_user")
        if api_user is not None:
            return int(api_user.id)
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            return int(current_user.id)
    actor = getattr(g, "audit_actor_id", None) if has_request_context() else None
    return actor or getattr(record, "updated_by_id", None) or getattr(record, "created_by_id", None)


def _columns(record: Any) -> list[str]:
    return [attr.key for attr in inspect(record).mapper.column_attrs if attr.key not in IGNORED]


def _entry(record: Any, action: str, changes: dict[str, list[Any]]) -> dict[str, Any]:
    from bpm_crm.models.base import utcnow

    return {"at": utcnow(), "user_id": actor_id(record), "record_type": RECORD_TYPES[type(record)],
            "record_id": getattr(record, "id", None), "action": action, "changes": changes}


def entries_for_flush(session: Session) -> list[dict[str, Any]]:
    """Audit entries for what this flush wrote (called after the flush, while the history is still there)."""
    entries: list[dict[str, Any]] = []
    for record in session.new:
        if type(record) in RECORD_TYPES:
            values = {key: [None, _plain(getattr(record, key))] for key in _columns(record)
                      if getattr(record, key) is not None and key != "id"}
            entries.append(_entry(record, "create", values))
    for record in session.dirty:
        if type(record) not in RECORD_TYPES or not session.is_modified(record, include_collections=False):
            continue
        state = inspect(record)
        changes: dict[str, list[Any]] = {}
        for key in _columns(record):
            history = state.attrs[key].history
            if history.has_changes():
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                if _plain(old) != _plain(new):
                    changes[key] = [_plain(old), _plain(new)]
        if changes:
            entries.append(_entry(record, "update", changes))
    for record in session.deleted:
        if type(record) in RECORD_TYPES:
            values = {key: [_plain(getattr(record, key)), None] for key in _columns(record)
                      if getattr(record, key) is not None and key != "id"}
            entries.append(_entry(record, "delete", values))
    return entries


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _context: Any) -> None:
    entries = entries_for_flush(session)
    if entries:
        session.connection().execute(insert(AuditLog), entries)


def record(*, record_type: str, record_id: int | None, action: str, user_id: int | None,
           changes: dict[str, Any] | None = None) -> None:
    """Add an audit entry the flush hook cannot see (a restore, a transfer reason …); the caller commits."""
    from bpm_crm.extensions import db

    db.session.add(AuditLog(record_type=record_type, record_id=record_id, action=action, user_id=user_id,
                            changes=changes or {}))
