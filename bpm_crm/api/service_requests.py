"""Service requests (客户服务): list with SLA figures, record (its process starts), read with its process,
sign-off results and deadlines, 转办, 催办, edit and delete while 新创建."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import body
from bpm_crm.api.inputs import bool_arg, choice_arg, id_arg, id_field, json_object, paging, text_arg, text_field
from bpm_crm.api.openapi import (
    BOOL,
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
from bpm_crm.forms.json_schema import json_schema
from bpm_crm.forms.service_request import SERVICE_REQUEST
from bpm_crm.models import HumanTask, ServiceRequest, ServiceStatus
from bpm_crm.services import dictionary, inbox, service_levels, service_requests, service_work
from bpm_crm.services.service_requests import EDITABLE_FIELDS

N_NUM = {"type": ["number", "null"]}


def service_request(record: ServiceRequest) -> dict[str, Any]:
    """A service request with its handling and feedback so far."""
    return {
        "id": record.id, "number": record.number, "type": record.type, "summary": record.summary,
        "customer": {"id": record.customer.id, "number": record.customer.number, "name": record.customer.name},
        "detail": record.detail, "status": record.status,
        "ticket_kind": service_requests.ticket_kind(record), "stage": service_requests.ticket_stage(record),
        "created_by": schemas.user_ref(record.created_by), "created_at": schemas.timestamp(record.created_at),
        "updated_at": schemas.timestamp(record.updated_at),
        "handler": schemas.user_ref(record.handler), "assigned_at": schemas.timestamp(record.assigned_at),
        "handling": record.handling, "handled_at": schemas.timestamp(record.handled_at),
        "feedback": record.feedback, "satisfaction": record.satisfaction,
        "feedback_at": schemas.timestamp(record.feedback_at), "archived_at": schemas.timestamp(record.archived_at),
        "process_instance_id": record.process_instance_id,
        "compensation_amount": _money(record.compensation_amount), "deduction_amount": _money(record.deduction_amount),
        "deduction_department": record.deduction_department.name if record.deduction_department else None,
        "reopened": record.reopened, "sla": sla(service_levels.figures(record)),
    }


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def sla(figures: service_levels.Figures) -> dict[str, Any]:
    """Response (响应时效) and completion time (办结时效) against target, in working hours."""
    return {
        "response": {"target_hours": figures.response_target, "hours": figures.response_hours,
                     "due_at": schemas.timestamp(figures.response_due_at), "done": figures.responded,
                     "met": figures.response_met},
        "resolution": {"target_hours": figures.resolution_target, "hours": figures.resolution_hours,
                       "due_at": schemas.timestamp(figures.resolution_due_at), "done": figures.closed,
                       "met": figures.resolution_met},
        "overdue": figures.overdue,
    }


def _step(task: HumanTask) -> dict[str, Any]:
    return {"task_id": task.id, "step": task.bpmn_id, "name": task.name, "assignee": schemas.user_ref(task.assignee),
            "due_at": schemas.timestamp(task.due_at), "remind_at": schemas.timestamp(task.remind_at),
            "escalate_at": schemas.timestamp(task.escalate_at), "overdue": inbox.is_overdue(task)}


def service_request_detail(record: ServiceRequest) -> dict[str, Any]:
    """A request with where its process stands: open steps with deadlines, sign-off rounds, status trail."""
    return {
        **service_request(record),
        "waiting": [_step(task) for task in service_work.running_deadlines(record)],
        "sign_off": [{"round": one.number, "started_at": schemas.timestamp(one.started_at), "outcome": one.outcome,
                      "departments": [{"department": entry.department, "head": entry.head, "state": entry.state,
                                       "comment": entry.comment, "signed_by": entry.signed_by,
                                       "signed_at": schemas.timestamp(entry.signed_at)} for entry in one.entries]}
                     for one in service_work.sign_off_rounds(record)],
        "status_trail": [{"status": step.status, "at": schemas.timestamp(step.at), "by": step.by}
                         for step in service_work.status_trail(record)],
    }


def _filters() -> dict[str, Any]:
    return {"q": text_arg("q"), "type": choice_arg("type", dictionary.choices(dictionary.SERVICE_TYPE)),
            "status": choice_arg("status", [s.value for s in ServiceStatus]), "customer_id": id_arg("customer_id"),
            "handler_id": id_arg("handler_id"), "overdue": bool_arg("overdue")}


@bp.get("/service-requests")
def list_service_requests() -> Response:
    """Visible service requests, newest first, searched and filtered."""
    page, per_page = paging()
    result = service_requests.list_requests(user=current_user(), **_filters(), page=page, per_page=per_page)
    return jsonify(schemas.page(result, service_request))


@bp.get("/service-requests/service-levels")
def service_request_levels() -> Response:
    """SLA figures of the requests the list would show with the same filters: 办结率, average times, met rates."""
    summary = service_requests.service_levels_of(user=current_user(), **_filters())
    return jsonify({"total": summary.total, "closed": summary.closed, "closed_rate": summary.closed_rate,
                    "average_response_hours": summary.average_response_hours,
                    "average_resolution_hours": summary.average_resolution_hours,
                    "response_met_rate": summary.response_met_rate,
                    "resolution_met_rate": summary.resolution_met_rate})


@bp.post("/service-requests/<id:request_id>/transfer")
def transfer_service_request(request_id: int) -> Response:
    """转办: hand the handling to another handler (he is notified)."""
    payload = json_object()
    record = service_work.transfer(request_id=request_id, user=current_user(), to_user_id=id_field(
        payload, "to_user_id"), comment=text_field(payload, "comment", service_work.MAX_COMMENT))
    return jsonify(service_request_detail(record))


@bp.post("/service-requests/<id:request_id>/nudge")
def nudge_service_request(request_id: int) -> Response:
    """催办: remind whoever the request waits for (at most once an hour)."""
    people = service_work.nudge(request_id=request_id, user=current_user())
    return jsonify({"notified": people})


@bp.post("/service-requests")
def create_service_request() -> tuple[Response, int, dict[str, str]]:
    """Record a consultation, suggestion or complaint."""
    record = service_requests.create_request(user=current_user(), values=body((*EDITABLE_FIELDS, "answer")))
    location = url_for("api.get_service_request", request_id=record.id)
    return jsonify(service_request(record)), 201, {"Location": location}


@bp.get("/service-requests/<id:request_id>")
def get_service_request(request_id: int) -> Response:
    """One service request."""
    return jsonify(service_request_detail(service_requests.get_request(request_id=request_id, user=current_user())))


@bp.patch("/service-requests/<id:request_id>")
def update_service_request(request_id: int) -> Response:
    """Change a request while 新创建 (its creator or service staff)."""
    record = service_requests.update_request(request_id=request_id, user=current_user(),
                                             values=body(EDITABLE_FIELDS))
    return jsonify(service_request(record))


@bp.delete("/service-requests/<id:request_id>")
def delete_service_request(request_id: int) -> tuple[str, int]:
    """Move a 新创建 request to the recycle bin."""
    service_requests.delete_request(request_id=request_id, user=current_user())
    return "", 204


# What the API alone takes on a create: the answer given on the call (简易工单).
ANSWER = {"answer": {"type": ["string", "null"], "maxLength": service_requests.MAX_ANSWER,
                     "description": "Answered on the call: a consultation or suggestion is closed at once"}}


openapi.SCHEMAS.update({
    "ServiceRequestInput": json_schema(SERVICE_REQUEST, extra=ANSWER),
    "ServiceRequestPatch": json_schema(SERVICE_REQUEST, partial=True),
    "ServiceRequest": obj({
        "id": INT, "number": STR, "type": STR, "summary": STR,
        "customer": obj({"id": INT, "number": N_STR, "name": STR}), "detail": STR,
        "status": {"enum": [s.value for s in ServiceStatus]},
        "ticket_kind": {"enum": [service_requests.SIMPLE_TICKET, service_requests.COMPLEX_TICKET],
                        "description": "简易工单: answered on the call; 疑难工单: dispatched, handled and visited"},
        "stage": {"enum": list(dict.fromkeys((*service_requests.SIMPLE_STAGES, *service_requests.COMPLEX_STAGES))),
                  "description": "The ticket's stage, from the status its process sets: 简易工单 坐席受理 → 处理完毕; "
                                 "疑难工单 坐席受理 → 处理中 → 处理完毕待回访 → 回访完毕"},
        "created_by": nullable(ref("UserRef")), "created_at": TIME, "updated_at": TIME,
        "handler": nullable(ref("UserRef")), "assigned_at": N_TIME, "handling": N_STR, "handled_at": N_TIME,
        "feedback": N_STR, "satisfaction": nullable({"type": "integer", "minimum": 1, "maximum": 5}),
        "feedback_at": N_TIME, "archived_at": N_TIME, "process_instance_id": N_INT,
        "compensation_amount": N_STR, "deduction_amount": N_STR, "deduction_department": N_STR, "reopened": INT,
        "sla": obj({"response": ref("ServiceLevel"), "resolution": ref("ServiceLevel"), "overdue": BOOL}),
    }),
    "ServiceRequestPage": openapi.page_of("ServiceRequest"),
    "ServiceLevel": obj({"target_hours": N_NUM, "hours": N_NUM, "due_at": N_TIME, "done": BOOL,
                         "met": {"type": ["boolean", "null"]}}),
    "ServiceRequestDetail": {"allOf": [ref("ServiceRequest"), obj({
        "waiting": {"type": "array", "items": obj({
            "task_id": INT, "step": STR, "name": STR, "assignee": nullable(ref("UserRef")), "due_at": N_TIME,
            "remind_at": N_TIME, "escalate_at": N_TIME, "overdue": BOOL})},
        "sign_off": {"type": "array", "items": obj({
            "round": INT, "started_at": TIME, "outcome": {"enum": ["open", "agree", "reject"]},
            "departments": {"type": "array", "items": obj({
                "department": STR, "head": N_STR, "state": {"enum": ["open", "agree", "reject", "cancelled"]},
                "comment": N_STR, "signed_by": N_STR, "signed_at": N_TIME})}})},
        "status_trail": {"type": "array", "items": obj({"status": STR, "at": TIME, "by": N_STR})},
    })]},
    "ServiceLevels": obj({"total": INT, "closed": INT, "closed_rate": N_NUM, "average_response_hours": N_NUM,
                          "average_resolution_hours": N_NUM, "response_met_rate": N_NUM,
                          "resolution_met_rate": N_NUM}),
    "ServiceTransfer": obj({"to_user_id": INT, "comment": N_STR}, ["to_user_id"]),
    "Nudged": obj({"notified": {"type": "array", "items": INT}}),
})
REQUEST = [path_id("request_id")]
FILTERS = [query("handler_id", INT, "Only this handler's requests"),
           query("overdue", BOOL, "Only open requests past a target or with an overdue step")]
openapi.PATHS.update({
    "/service-requests/service-levels": {
        "get": operation("getServiceLevels", "SLA figures of the filtered requests", "service",
                         responses("200", "ServiceLevels", "401", "422"), params=[
                             openapi.SEARCH, query("type", STR),
                             query("status", {"enum": [s.value for s in ServiceStatus]}),
                             query("customer_id", INT), *FILTERS]),
    },
    "/service-requests/{request_id}/transfer": {
        "post": operation("transferServiceRequest", "转办: hand the handling to another handler", "service",
                          responses("200", "ServiceRequestDetail", "400", "401", "403", "404", "409", "422"),
                          body="ServiceTransfer", params=REQUEST),
    },
    "/service-requests/{request_id}/nudge": {
        "post": operation("nudgeServiceRequest", "催办: remind whoever the request waits for", "service",
                          responses("200", "Nudged", "401", "403", "404", "409"), params=REQUEST),
    },
    "/service-requests": {
        "get": operation("listServiceRequests", "Visible service requests, newest first", "service",
                         responses("200", "ServiceRequestPage", "401", "422"), params=[
                             openapi.SEARCH, query("type", STR, "咨询 / 建议 / 投诉"),
                             query("status", {"enum": [s.value for s in ServiceStatus]}),
                             query("customer_id", INT, "Only this customer's requests"), *FILTERS,
                             *openapi.PAGING]),
        "post": operation("createServiceRequest", "Record a service request (status 新创建)", "service",
                          responses("201", "ServiceRequest", "400", "401", "403", "422", headers={
                              "Location": {"schema": STR, "description": "URL of the new request"}}),
                          body="ServiceRequestInput"),
    },
    "/service-requests/{request_id}": {
        "get": operation("getServiceRequest", "One service request with its steps, deadlines and sign-off",
                         "service", responses("200", "ServiceRequestDetail", "401", "404"), params=REQUEST),
        "patch": operation("updateServiceRequest", "Change while 新创建 (creator or service staff)", "service",
                           responses("200", "ServiceRequest", "400", "401", "403", "404", "409", "422"),
                           body="ServiceRequestPatch", params=REQUEST),
        "delete": operation("deleteServiceRequest", "Move a 新创建 request to the recycle bin", "service",
                            responses("204", None, "401", "403", "404", "409"), params=REQUEST),
    },
})
