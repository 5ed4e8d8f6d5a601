"""The audit log: every flush records who created, changed or deleted which record, field by field.

Every declared business record type (services/records.py) is audited under its key and label; the
tables below are audited too although they are not business records.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from flask import g, has_request_context
from flask_babel import LazyString
from sqlalchemy import delete, insert, inspect, update
from sqlalchemy.orm import Session

from bpm_crm.extensions import listen
from bpm_crm.i18n import _
from bpm_crm.models import (
    AuditLog,
    Department,
    DictionaryEntry,
    InventoryItem,
    LevelRule,
    Product,
    QuoteLine,
    RolePermission,
    User,
    Warehouse,
)
from bpm_crm.services.records import RECORDS


class AuditedType(NamedTuple):
    """The name an audited table's entries carry and how the log labels it."""

    name: str
    label: LazyString


# Audited tables that are not business records: the administration's, and a quote's lines.
OTHER_TYPES: dict[type, AuditedType] = {
    QuoteLine: AuditedType("quote_line", _("报价明细")), Product: AuditedType("product", _("产品")),
    Warehouse: AuditedType("warehouse", _("仓库")), InventoryItem: AuditedType("inventory", _("库存")),
    DictionaryEntry: AuditedType("dictionary", _("数据字典")), LevelRule: AuditedType("level_rule", _("客户等级规则")),
    User: AuditedType("user", _("用户")), Department: AuditedType("department", _("部门")),
    RolePermission: AuditedType("role_permission", _("角色权限")),
}

_OTHER_LABELS = {other.name: other.label for other in OTHER_TYPES.values()}


def audited_name(model: type) -> str | None:
    """The name entries about rows of `model` carry; None when the log does not watch the table."""
    record_type = RECORDS.of_model(model)
    if record_type is not None:
        return record_type.key
    other = OTHER_TYPES.get(model)
    return other.name if other else None


def record_types() -> list[str]:
    """Every name audit entries carry, in a stable order."""
    return sorted({record_type.key for record_type in RECORDS.types()} | set(_OTHER_LABELS))


def type_label(name: str | None) -> str:
    """How the log labels a record type ("customer" -> 客户); an unknown name as it is."""
    record_type = RECORDS.find(name)
    if record_type is not None:
        return str(record_type.label)
    return str(_OTHER_LABELS.get(name or "", name or ""))


IGNORED = {"created_at", "updated_at", "created_by_id", "updated_by_id", "password_hash", "session_stamp"}


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
    return _request_actor() or getattr(record, "updated_by_id", None) or getattr(record, "created_by_id", None)


def _request_actor() -> int | None:
    """The user of the current page or API request, if any."""
    if not has_request_context():
        return None
    api_user = g.get("api_user")
    if api_user is not None:
        return int(api_user.id)
    from flask_login import current_user

    if current_user and current_user.is_authenticated:
        return int(current_user.id)
    return g.get("audit_actor_id")


def _columns(record: Any) -> list[str]:
    return [attr.key for attr in inspect(record).mapper.column_attrs if attr.key not in IGNORED]


def _entry(record: Any, action: str, changes: dict[str, list[Any]]) -> dict[str, Any]:
    from bpm_crm.models.base import utcnow

    return {"at": utcnow(), "user_id": actor_id(record), "record_type": audited_name(type(record)),
            "record_id": getattr(record, "id", None), "action": action, "changes": changes}


def _deleted(session: Session, context: Any) -> list[Any]:
    """Records this flush deleted: those passed to session.delete() and orphans removed from a collection."""
    deleted = list(session.deleted)
    seen = {id(record) for record in deleted}
    for state, (is_delete, list_only) in getattr(context, "states", {}).items():
        record = state.obj()
        if is_delete and not list_only and record is not None and id(record) not in seen:
            deleted.append(record)
            seen.add(id(record))
    return deleted


def entries_for_flush(session: Session, context: Any = None) -> list[dict[str, Any]]:
    """Audit entries for what this flush wrote (called after the flush, while the history is still there)."""
    return [entry for entry, _record in _entries_with_records(session, context)]


def _entries_with_records(session: Session, context: Any) -> list[tuple[dict[str, Any], Any]]:
    entries: list[tuple[dict[str, Any], Any]] = []
    for record in session.new:
        if audited_name(type(record)):
            values = {key: [None, _plain(getattr(record, key))] for key in _columns(record)
                      if getattr(record, key) is not None and key != "id"}
            entries.append((_entry(record, "create", values), record))
    for record in session.dirty:
        if not audited_name(type(record)) or not session.is_modified(record, include_collections=False):
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
            entries.append((_entry(record, "update", changes), record))
    for record in _deleted(session, context):
        if audited_name(type(record)):
            values = {key: [_plain(getattr(record, key)), None] for key in _columns(record)
                      if getattr(record, key) is not None and key != "id"}
            entries.append((_entry(record, "delete", values), record))
    return entries


def _keep_old_value(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    return value


def _track_old_values(model: type) -> None:
    """Load a column's old value before it is assigned, even when a commit expired it.

    Without this an assignment after a commit loses the old value: the entry would say None -> new, and
    assigning an unchanged value would write an entry.
    """
    mapper: Any = inspect(model)
    for key in mapper.column_attrs.keys():
        if key not in IGNORED:
            listen(getattr(model, key), "set", _keep_old_value, active_history=True, retval=True)


# Entries of this transaction whose actor came from the record's updated_by_id: (type, id) -> entry ids.
_BY_RECORD = "audit_entries_by_record"


def _reattribute(session: Session) -> None:
    """Give earlier entries of this transaction the updater the record names now.

    A service may assign fields, touch an expired object (which autoflushes them) and only then set
    updated_by_id; the entries written by that autoflush named the previous updater.
    """
    pending: dict[tuple[type, Any], list[int]] = session.info.get(_BY_RECORD) or {}
    if not pending:
        return
    for record in session.dirty:
        ids = pending.get((type(record), getattr(record, "id", None)))
        if not ids or "updated_by_id" not in inspect(record).attrs:
            continue
        added = inspect(record).attrs["updated_by_id"].history.added
        if added and added[0] is not None:
            session.connection().execute(update(AuditLog).where(AuditLog.id.in_(ids)).values(user_id=added[0]))
            for written in (session.info.get(_WRITTEN) or {}).values():
                if written["id"] in ids:
                    written["user_id"] = added[0]


# Entries this transaction wrote, by (record type, id): later flushes of the record fold into them.
_WRITTEN = "audit_entries_written"
_INSERT_ONE = insert(AuditLog).returning(AuditLog.id)
_INSERT_MANY = insert(AuditLog).returning(AuditLog.id, sort_by_parameter_order=True)


def fold(action: str, earlier: dict[str, list[Any]], later: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """One entry per change: a record's later changes in the same transaction added to its first entry.

    A create keeps the final values; an update keeps each field's first old value and its last new one,
    and drops fields that ended where they started.
    """
    changes = {key: list(pair) for key, pair in earlier.items()}
    for key, (old, new) in later.items():
        if action == "create":
            if new is None:
                changes.pop(key, None)
            else:
                changes[key] = [None, new]
            continue
        first = changes[key][0] if key in changes else old
        if first == new:
            changes.pop(key, None)
        else:
            changes[key] = [first, new]
    return changes


def _folded(session: Session, pairs: list[tuple[dict[str, Any], Any]]) -> list[tuple[dict[str, Any], Any]]:
    """Fold updates of records already logged in this transaction into their entries; the rest is new."""
    written: dict[tuple[Any, Any], dict[str, Any]] = session.info.setdefault(_WRITTEN, {})
    fresh = []
    for entry, record in pairs:
        earlier = written.get((entry["record_type"], entry["record_id"]))
        if (earlier is None or entry["action"] != "update" or earlier["action"] == "delete"
                or earlier["user_id"] != entry["user_id"]):
            fresh.append((entry, record))
            continue
        changes = fold(earlier["action"], earlier["changes"], entry["changes"])
        if not changes and earlier["action"] == "update":
            done = session.connection().execute(delete(AuditLog).where(AuditLog.id == earlier["id"]))
            del written[(entry["record_type"], entry["record_id"])]
        else:
            done = session.connection().execute(
                update(AuditLog).where(AuditLog.id == earlier["id"]).values(changes=changes))
            earlier["changes"] = changes
        if not done.rowcount:  # its entry went with a rolled-back savepoint: log this change on its own
            written.pop((entry["record_type"], entry["record_id"]), None)
            fresh.append((entry, record))
    return fresh


def _record_changes(session: Session, context: Any) -> None:
    from_request = _request_actor() is not None
    if not from_request:
        _reattribute(session)
    pairs = _folded(session, _entries_with_records(session, context))
    if not pairs:
        return
    if len(pairs) == 1:  # the usual flush: one plain INSERT … RETURNING, not the batch of several rows
        result = session.connection().execute(_INSERT_ONE, pairs[0][0])
    else:
        result = session.connection().execute(_INSERT_MANY, [entry for entry, _ in pairs])
    written = session.info.setdefault(_WRITTEN, {})
    pending = session.info.setdefault(_BY_RECORD, {})
    for (entry, record), entry_id in zip(pairs, result.scalars(), strict=True):
        written[(entry["record_type"], entry["record_id"])] = {
            "id": entry_id, "action": entry["action"], "user_id": entry["user_id"], "changes": entry["changes"]}
        if not from_request and entry["action"] != "delete" and hasattr(record, "updated_by_id"):
            pending.setdefault((type(record), entry["record_id"]), []).append(entry_id)


def _forget_transaction(session: Session) -> None:
    session.info.pop(_BY_RECORD, None)
    session.info.pop(_WRITTEN, None)


def record(*, record_type: str, record_id: int | None, action: str, user_id: int | None,
           changes: dict[str, Any] | None = None) -> None:
    """Add an audit entry the flush hook cannot see (a restore, a transfer reason …); the caller commits."""
    from bpm_crm.extensions import db

    db.session.add(AuditLog(record_type=record_type, record_id=record_id, action=action, user_id=user_id,
                            changes=changes or {}))


def install() -> None:
    """Write the audit log with every flush, from now on (wired by create_app, once the record types are declared)."""
    for model in dict.fromkeys([*(record_type.model for record_type in RECORDS.types()), *OTHER_TYPES]):
        _track_old_values(model)
    listen(Session, "after_flush", _record_changes)
    listen(Session, "after_commit", _forget_transaction)
    listen(Session, "after_rollback", _forget_transaction)
