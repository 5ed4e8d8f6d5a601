"""Churn warnings (流失预警) over the API: list, read, raise, measures, confirm, recover, delete.

There is no PATCH: a warning changes only through its actions, and measures are never edited.
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import AUDIT, N_DATE, body, customer_ref, day
from bpm_crm.api.inputs import choice_arg, id_arg, paging, text_arg
from bpm_crm.forms.churn import CHURN_WARNING, CONFIRMATION, MEASURE
from bpm_crm.forms.json_schema import json_schema
from bpm_crm.models import ChurnMeasure, ChurnWarning
from bpm_crm.services import churn


def measure(record: ChurnMeasure) -> dict[str, Any]:
    return {"id": record.id, "content": record.content, "author": schemas.user_ref(record.author),
            "created_at": schemas.timestamp(record.created_at)}


def warning(record: ChurnWarning) -> dict[str, Any]:
    """A churn warning with its customer, account manager and measures in the order they were taken."""
    return {
        "id": record.id, "customer": customer_ref(record.customer), "manager": schemas.user_ref(record.manager),
        "last_order_date": day(record.last_order_date), "status": record.status, "reason": record.reason,
        "closed_at": schemas.timestamp(record.closed_at), "measures": [measure(m) for m in record.measures],
        "process_instance_id": record.process_instance_id,
        "created_at": schemas.timestamp(record.created_at), "updated_at": schemas.timestamp(record.updated_at),
    }


@bp.get("/churn-warnings")
def list_churn_warnings() -> Response:
    """Visible churn warnings, newest first, filtered by status, account manager or customer."""
    page, per_page = paging()
    result = churn.list_warnings(
        user=current_user(), q=text_arg("q"), status=choice_arg("status", churn.STATUSES),
        manager_id=id_arg("manager_id"), customer_id=id_arg("customer_id"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, warning))


@bp.post("/churn-warnings")
def create_churn_warning() -> tuple[Response, int, dict[str, str]]:
    """Raise a warning by hand (account manager of the customer or his supervisor)."""
    record = churn.create_warning(user=current_user(), values=body(("customer_id",)))
    return jsonify(warning(record)), 201, {"Location": url_for("api.get_churn_warning", warning_id=record.id)}


@bp.get("/churn-warnings/<id:warning_id>")
def get_churn_warning(warning_id: int) -> Response:
    """One churn warning with its measures."""
    return jsonify(warning(churn.get_warning(warning_id=warning_id, user=current_user())))


def _text(name: str) -> str:
    value = body((name,)).get(name)
    return value if isinstance(value, str) else ""


@bp.post("/churn-warnings/<id:warning_id>/measures")
def add_churn_measure(warning_id: int) -> tuple[Response, int]:
    """Append a measure; the first one moves 预警 to 暂缓流失."""
    record = churn.add_measure(warning_id=warning_id, user=current_user(), content=_text("content"))
    return jsonify(warning(record)), 201


@bp.post("/churn-warnings/<id:warning_id>/confirm")
def confirm_churn(warning_id: int) -> Response:
    """Confirm the churn with a reason (needs a measure first); the customer becomes 已流失."""
    record = churn.confirm(warning_id=warning_id, user=current_user(), reason=_text("reason"))
    return jsonify(warning(record))


@bp.post("/churn-warnings/<id:warning_id>/recover")
def recover_churn(warning_id: int) -> Response:
    """Close an open warning: the customer is ordering again (已恢复)."""
    body((), optional=True)
    return jsonify(warning(churn.recover(warning_id=warning_id, user=current_user())))


@bp.delete("/churn-warnings/<id:warning_id>")
def delete_churn_warning(warning_id: int) -> tuple[str, int]:
    """Move a warning and its measures to the recycle bin."""
    churn.delete_warning(warning_id=warning_id, user=current_user())
    return "", 204


_N = openapi.nullable
openapi.SCHEMAS.update({
    "ChurnWarningInput": json_schema(CHURN_WARNING),
    "ChurnMeasureInput": json_schema(MEASURE),
    "ChurnConfirmation": json_schema(CONFIRMATION),
    "ChurnRecovery": openapi.obj({}, [], additionalProperties=False, description="Empty; the body may be omitted"),
    "ChurnMeasure": openapi.obj({"id": openapi.INT, "content": openapi.STR, "author": _N(openapi.ref("UserRef")),
                                 "created_at": openapi.TIME}),
    "ChurnWarning": openapi.obj({
        "id": openapi.INT, "customer": openapi.ref("CustomerRef"), "manager": _N(openapi.ref("UserRef")),
        "last_order_date": N_DATE, "status": {"enum": churn.STATUSES}, "reason": openapi.N_STR,
        "closed_at": openapi.N_TIME, "measures": {"type": "array", "items": openapi.ref("ChurnMeasure")},
        "process_instance_id": openapi.N_INT, **AUDIT,
    }),
    "ChurnWarningPage": openapi.page_of("ChurnWarning"),
})
_ID = [openapi.path_id("warning_id")]


def _action(operation_id: str, summary: str, ok: str, schema: str) -> dict[str, Any]:
    return openapi.operation(operation_id, summary, "churn",
                             openapi.responses(ok, "ChurnWarning", "400", "401", "403", "404", "409", "422"),
                             body=schema, params=_ID)


openapi.PATHS.update({
    "/churn-warnings": {
        "get": openapi.operation("listChurnWarnings", "Visible churn warnings, newest first", "churn",
                                 openapi.responses("200", "ChurnWarningPage", "401", "403", "422"), params=[
                                     openapi.SEARCH, openapi.query("status", {"enum": churn.STATUSES}),
                                     openapi.query("manager_id", openapi.INT, "Only this account manager's"),
                                     openapi.query("customer_id", openapi.INT, "Only this customer's"),
                                     *openapi.PAGING]),
        "post": openapi.operation("createChurnWarning", "Raise a warning; one open warning per customer", "churn",
                                  openapi.responses("201", "ChurnWarning", "400", "401", "403", "409", "422"),
                                  body="ChurnWarningInput"),
    },
    "/churn-warnings/{warning_id}": {
        "get": openapi.operation("getChurnWarning", "One churn warning with its measures", "churn",
                                 openapi.responses("200", "ChurnWarning", "401", "403", "404"), params=_ID),
        "delete": openapi.operation("deleteChurnWarning", "Move a warning to the recycle bin", "churn",
                                    openapi.responses("204", None, "401", "403", "404"), params=_ID),
    },
    "/churn-warnings/{warning_id}/measures": {"post": _action(
        "addChurnMeasure", "Append a measure (暂缓措施); 预警 becomes 暂缓流失", "201", "ChurnMeasureInput")},
    "/churn-warnings/{warning_id}/confirm": {"post": _action(
        "confirmChurn", "Confirm the churn with a reason; the customer becomes 已流失", "200", "ChurnConfirmation")},
    "/churn-warnings/{warning_id}/recover": {"post": _action(
        "recoverChurn", "Close the warning as 已恢复", "200", "ChurnRecovery")},
})
openapi.PATHS["/churn-warnings/{warning_id}/recover"]["post"]["requestBody"]["required"] = False
