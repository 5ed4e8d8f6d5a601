"""Service requests (客户服务): list, record, read, edit and delete while 新创建."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import choice_arg, id_arg, json_object, paging, text_arg
from bpm_crm.api.openapi import (
    INT,
    N_INT,
    N_STR,
    N_TIME,
    STR,
    TIME,
    nullable,
    obj,
    operation,
    path_id,
    query,
    ref,
    responses,
)
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.models import ServiceRequest, ServiceStatus
from bpm_crm.services import dictionary, service_requests
from bpm_crm.services.service_requests import EDITABLE_FIELDS


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    errors = {name: [str(_("未知或只读字段"))] for name in payload if name not in EDITABLE_FIELDS}
    errors.update({name: [str(_("应为文本或数字"))] for name, value in payload.items()
                   if name in EDITABLE_FIELDS and isinstance(value, dict | list)})
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return payload


def service_request(record: ServiceRequest) -> dict[str, Any]:
    """A service request with its handling and feedback so far."""
    return {
        "id": record.id, "number": record.number, "type": record.type, "summary": record.summary,
        "customer": {"id": record.customer.id, "number": record.customer.number, "name": record.customer.name},
        "detail": record.detail, "status": record.status,
        "created_by": schemas.user_ref(record.created_by), "created_at": schemas.timestamp(record.created_at),
        "updated_at": schemas.timestamp(record.updated_at),
        "handler": schemas.user_ref(record.handler), "assigned_at": schemas.timestamp(record.assigned_at),
        "handling": record.handling, "handled_at": schemas.timestamp(record.handled_at),
        "feedback": record.feedback, "satisfaction": record.satisfaction,
        "feedback_at": schemas.timestamp(record.feedback_at), "archived_at": schemas.timestamp(record.archived_at),
        "process_instance_id": record.process_instance_id,
    }


@bp.get("/service-requests")
def list_service_requests() -> Response:
    """Visible service requests, newest first, searched and filtered."""
    page, per_page = paging()
    result = service_requests.list_requests(
        user=current_user(), q=text_arg("q"), type=choice_arg("type", dictionary.choices(dictionary.SERVICE_TYPE)),
        status=choice_arg("status", [s.value for s in ServiceStatus]), customer_id=id_arg("customer_id"),
        page=page, per_page=per_page)
    return jsonify(schemas.page(result, service_request))


@bp.post("/service-requests")
def create_service_request() -> tuple[Response, int, dict[str, str]]:
    """Record a consultation, suggestion or complaint."""
    record = service_requests.create_request(user=current_user(), values=_fields(json_object()))
    location = url_for("api.get_service_request", request_id=record.id)
    return jsonify(service_request(record)), 201, {"Location": location}


@bp.get("/service-requests/<id:request_id>")
def get_service_request(request_id: int) -> Response:
    """One service request."""
    return jsonify(service_request(service_requests.get_request(request_id=request_id, user=current_user())))


@bp.patch("/service-requests/<id:request_id>")
def update_service_request(request_id: int) -> Response:
    """Change a request while 新创建 (its creator or service staff)."""
    record = service_requests.update_request(request_id=request_id, user=current_user(),
                                             values=_fields(json_object()))
    return jsonify(service_request(record))


@bp.delete("/service-requests/<id:request_id>")
def delete_service_request(request_id: int) -> tuple[str, int]:
    """Move a 新创建 request to the recycle bin."""
    service_requests.delete_request(request_id=request_id, user=current_user())
    return "", 204


FIELDS = {
    "type": {"type": "string", "description": "An item of dictionary 服务类型 (咨询 / 建议 / 投诉)"},
    "summary": {"type": "string", "minLength": 1, "maxLength": 200},
    "customer_id": INT,
    "detail": {"type": "string", "minLength": 1, "maxLength": 4000},
}
openapi.SCHEMAS.update({
    "ServiceRequestInput": obj(FIELDS, additionalProperties=False),
    "ServiceRequestPatch": obj(FIELDS, [], additionalProperties=False),
    "ServiceRequest": obj({
        "id": INT, "number": STR, "type": STR, "summary": STR,
        "customer": obj({"id": INT, "number": N_STR, "name": STR}), "detail": STR,
        "status": {"enum": [s.value for s in ServiceStatus]},
        "created_by": nullable(ref("UserRef")), "created_at": TIME, "updated_at": TIME,
        "handler": nullable(ref("UserRef")), "assigned_at": N_TIME, "handling": N_STR, "handled_at": N_TIME,
        "feedback": N_STR, "satisfaction": nullable({"type": "integer", "minimum": 1, "maximum": 5}),
        "feedback_at": N_TIME, "archived_at": N_TIME, "process_instance_id": N_INT,
    }),
    "ServiceRequestPage": openapi.page_of("ServiceRequest"),
})
REQUEST = [path_id("request_id")]
openapi.PATHS.update({
    "/service-requests": {
        "get": operation("listServiceRequests", "Visible service requests, newest first", "service",
                         responses("200", "ServiceRequestPage", "401", "422"), params=[
                             openapi.SEARCH, query("type", STR, "咨询 / 建议 / 投诉"),
                             query("status", {"enum": [s.value for s in ServiceStatus]}),
                             query("customer_id", INT, "Only this customer's requests"), *openapi.PAGING]),
        "post": operation("createServiceRequest", "Record a service request (status 新创建)", "service",
                          responses("201", "ServiceRequest", "400", "401", "403", "422", headers={
                              "Location": {"schema": STR, "description": "URL of the new request"}}),
                          body="ServiceRequestInput"),
    },
    "/service-requests/{request_id}": {
        "get": operation("getServiceRequest", "One service request", "service",
                         responses("200", "ServiceRequest", "401", "404"), params=REQUEST),
        "patch": operation("updateServiceRequest", "Change while 新创建 (creator or service staff)", "service",
                           responses("200", "ServiceRequest", "400", "401", "403", "404", "409", "422"),
                           body="ServiceRequestPatch", params=REQUEST),
        "delete": operation("deleteServiceRequest", "Move a 新创建 request to the recycle bin", "service",
                            responses("204", None, "401", "403", "404", "409"), params=REQUEST),
    },
})
