"""The recycle bin over the API: list deleted records, restore one."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import choice_arg, paging
from bpm_crm.api.openapi import BOOL, INT, PAGING, STR, TIME, nullable, obj, operation, path_id, query, ref
from bpm_crm.models import RecycleBinEntry, User
from bpm_crm.services import recycle


def _rows(node: dict[str, Any]) -> int:
    return 1 + sum(_rows(child) for child in node.get("children", []))


def bin_entry(entry: RecycleBinEntry, user: User) -> dict[str, Any]:
    return {"id": entry.id, "record_type": entry.record_type, "record_id": entry.record_id, "label": entry.label,
            "rows": _rows(entry.payload), "deleted_by": schemas.user_ref(entry.deleted_by),
            "deleted_at": schemas.timestamp(entry.deleted_at), "restorable": recycle.may_restore(user, entry)}


@bp.get("/recycle-bin")
def list_recycle_bin() -> Response:
    """Deleted records the caller deleted or may restore, newest first."""
    user = current_user()
    page, per_page = paging()
    result = recycle.list_entries(user=user, record_type=choice_arg("record_type", recycle.record_types()),
                                  page=page, per_page=per_page)
    return jsonify(schemas.page(result, lambda entry: bin_entry(entry, user)))


@bp.post("/recycle-bin/<id:entry_id>/restore")
def restore_from_recycle_bin(entry_id: int) -> Response:
    """Put a deleted record and its dependants back; a second restore gets 404."""
    entry = recycle.restore(entry_id=entry_id, user=current_user())
    return jsonify({"record_type": entry.record_type, "record_id": entry.record_id, "label": entry.label})


openapi.SCHEMAS.update({
    "RecycleBinEntry": obj({
        "id": INT, "record_type": {"enum": recycle.record_types()}, "record_id": INT, "label": STR,
        "rows": {"type": "integer", "description": "The record and everything deleted with it"},
        "deleted_by": nullable(ref("UserRef")), "deleted_at": TIME,
        "restorable": {**BOOL, "description": "Whether the caller may restore it"},
    }),
    "RecycleBinPage": openapi.page_of("RecycleBinEntry"),
    "RestoredRecord": obj({"record_type": STR, "record_id": INT, "label": STR}),
})
openapi.PATHS.update({
    "/recycle-bin": {"get": operation(
        "listRecycleBin", "Deleted records you deleted or may restore", "recycle",
        openapi.responses("200", "RecycleBinPage", "401", "422"),
        params=[query("record_type", {"enum": recycle.record_types()}), *PAGING])},
    "/recycle-bin/{entry_id}/restore": {"post": operation(
        "restoreFromRecycleBin", "Restore a deleted record with its dependants exactly as they were", "recycle",
        openapi.responses("200", "RestoredRecord", "401", "403", "404", "409"), params=[path_id("entry_id")])},
})
