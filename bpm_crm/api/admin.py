"""Administration over the API: dictionary choices, the audit log of records, the user list (admins)."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify, request

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import bool_arg, choice_arg, id_arg, paging, text_arg
from bpm_crm.api.openapi import BOOL, INT, N_INT, N_STR, PAGING, SEARCH, STR, TIME, nullable, obj, operation, query, ref
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.models import AuditLog, DictionaryEntry, User
from bpm_crm.services import admin, dictionary, logs, permissions
from bpm_crm.services.paging import Page


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为日期 YYYY-MM-DD"))]}) from None


def dictionary_entry(entry: DictionaryEntry) -> dict[str, Any]:
    return {"id": entry.id, "type": entry.type, "item": entry.item, "value": entry.value,
            "parent_id": entry.parent_id, "sort": entry.sort, "editable": entry.editable}


def audit_entry(entry: AuditLog) -> dict[str, Any]:
    return {"id": entry.id, "at": schemas.timestamp(entry.at), "user": schemas.user_ref(entry.user),
            "record_type": entry.record_type, "record_id": entry.record_id, "action": entry.action,
            "changes": schemas.jsonable(entry.changes or {})}


def admin_user(account: User) -> dict[str, Any]:
    return {**schemas.user(account), "mobile": account.mobile, "superior": schemas.user_ref(account.superior),
            "active": account.active, "created_at": schemas.timestamp(account.created_at)}


@bp.get("/dictionary")
def list_dictionary() -> Response:
    """The dictionary types, and the entries of one type (all entries without `type`)."""
    types = dictionary.types()
    entry_type = choice_arg("type", types)
    entries = ([e for t in types for e in dictionary.list_entries(entry_type=t)] if entry_type is None
               else dictionary.list_entries(entry_type=entry_type))
    return jsonify({"types": types, "items": [dictionary_entry(e) for e in entries]})


@bp.get("/audit-log")
def list_audit_log() -> Response:
    """Audit entries, newest first (audit.read); one record's history also for those who may read it."""
    user = current_user()
    record_type = choice_arg("record_type", logs.record_types())
    record_id = id_arg("record_id")
    page, per_page = paging()
    if not permissions.can(user, "audit.read") and record_type and record_id is not None:
        entries = list(reversed(logs.record_history(record_type=record_type, record_id=record_id, user=user)))
        result = Page(items=entries[(page - 1) * per_page: page * per_page], total=len(entries), page=page,
                      per_page=per_page)
    else:
        result = logs.list_audit_entries(
            user=user, record_type=record_type, record_id=record_id, actor_id=id_arg("user_id"),
            action=choice_arg("action", logs.ACTIONS), date_from=_date_arg("date_from"),
            date_to=_date_arg("date_to"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, audit_entry))


@bp.get("/users")
def list_users() -> Response:
    """Users with department, superior, roles and state (user.manage)."""
    page, per_page = paging()
    active = bool_arg("active") if request.args.get("active") not in (None, "") else None
    result = admin.list_users(user=current_user(), q=text_arg("q"), department_id=id_arg("department_id"),
                              role_id=id_arg("role_id"), active=active, page=page, per_page=per_page)
    return jsonify(schemas.page(result, admin_user))


openapi.SCHEMAS.update({
    "DictionaryEntry": obj({"id": INT, "type": STR, "item": STR, "value": N_STR, "parent_id": N_INT, "sort": INT,
                            "editable": BOOL}),
    "Dictionary": obj({"types": {"type": "array", "items": STR},
                       "items": {"type": "array", "items": openapi.ref("DictionaryEntry"),
                                 "description": "Parents before their children (regions nest by parent_id)"}}),
    "AuditEntry": obj({
        "id": INT, "at": TIME, "user": nullable(ref("UserRef")), "record_type": STR, "record_id": N_INT,
        "action": {"enum": list(logs.ACTIONS)},
        "changes": {"type": "object", "description": "field → [old, new]",
                    "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
    }),
    "AuditEntryPage": openapi.page_of("AuditEntry"),
    "AdminUser": {"allOf": [ref("User"), obj({
        "mobile": {**N_STR, "description": "11-digit Chinese mobile number, for SMS notifications"},
        "superior": nullable(ref("UserRef")), "active": BOOL, "created_at": TIME})]},
    "AdminUserPage": openapi.page_of("AdminUser"),
})
openapi.PATHS.update({
    "/dictionary": {"get": operation(
        "listDictionary", "Dictionary types and the entries of one type", "admin",
        openapi.responses("200", "Dictionary", "401", "422"),
        params=[query("type", STR, "A dictionary type, e.g. 地区, 行业, 客户等级")])},
    "/audit-log": {"get": operation(
        "listAuditLog", "Audit entries, newest first (audit.read, or one readable record's history)", "admin",
        openapi.responses("200", "AuditEntryPage", "401", "403", "422"), params=[
            query("record_type", STR), query("record_id", INT), query("user_id", INT, "Who made the change"),
            query("action", {"enum": list(logs.ACTIONS)}), query("date_from", {"type": "string", "format": "date"}),
            query("date_to", {"type": "string", "format": "date"}), *PAGING])},
    "/users": {"get": operation(
        "listUsers", "Users with department, superior, roles and state (user.manage)", "admin",
        openapi.responses("200", "AdminUserPage", "401", "403", "422"), params=[
            SEARCH, query("department_id", INT), query("role_id", INT), query("active", BOOL), *PAGING])},
})
