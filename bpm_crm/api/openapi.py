"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, public
from bpm_crm.api.inputs import MAX_PER_PAGE
from bpm_crm.forms.json_schema import json_schema, properties
from bpm_crm.forms.opportunity import OPPORTUNITY
from bpm_crm.input_rules import MAX_ID
from bpm_crm.models import OpportunityStatus
from bpm_crm.services.inbox import VIEWS
from bpm_crm.services.paging import MAX_PAGE

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties), **extra}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-23T09:00:00Z"]}
N_STR, N_INT, N_TIME = nullable(STR), nullable(INT), nullable(TIME)
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ANY_OBJECT = {"type": "object", "additionalProperties": True}

OPPORTUNITY_FIELDS = properties(OPPORTUNITY)


def page_of(item: str) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": ref(item)}, "page": INT, "per_page": INT, "total": INT,
                "pages": INT})


SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": obj({"message": STR, "fields": {
        "type": "object", "additionalProperties": {"type": "array", "items": STR},
        "description": "Messages per field (empty unless the input was invalid)"},
        "code": {"type": "string", "description": "A machine code: not_found, forbidden, conflict, invalid, "
                 "task_closed, process_failed, instance_incident, too_many_attempts …"},
        "params": {"type": "object", "description": "Values the message interpolates (e.g. name, status)"}},
        ["message", "fields"])}),
    "TokenRequest": obj({"username": STR, "password": {"type": "string", "format": "password"}}),
    "Token": obj({"token": STR, "token_type": {"const": "Bearer"}, "expires_at": TIME, "user": ref("User")}),
    "UserRef": obj({"id": INT, "username": STR, "full_name": STR}),
    "User": obj({"id": INT, "username": STR, "full_name": STR, "email": N_STR, "department": N_STR,
                 "superior_id": N_INT, "roles": {"type": "array", "items": STR}}),
    "Me": {"allOf": [ref("User"), obj({"permissions": {
        "type": "object", "description": "action → scope (own, subordinates, department, all)",
        "additionalProperties": {"enum": ["own", "subordinates", "department", "all"]}}})]},
    "OpportunityInput": json_schema(OPPORTUNITY),
    "OpportunityPatch": json_schema(OPPORTUNITY, partial=True),
    "Opportunity": obj({
        "id": INT, "number": STR, **OPPORTUNITY_FIELDS,
        "status": {"enum": [status.value for status in OpportunityStatus]},
        "created_by": nullable(ref("UserRef")), "created_at": TIME, "updated_at": TIME,
        "assignee": nullable(ref("UserRef")), "assigned_at": N_TIME, "closed_at": N_TIME,
        "process_instance_id": N_INT,
    }),
    "PlanItem": obj({"id": INT, "date": {"type": "string", "format": "date"}, "content": STR, "result": N_STR}),
    "OpportunityDetail": {"allOf": [ref("Opportunity"), obj({
        "customer_id": N_INT, "plan_items": {"type": "array", "items": ref("PlanItem")}})]},
    "OpportunityPage": page_of("Opportunity"),
    "Customer": obj({
        "id": INT, "number": N_STR, "name": STR, "short_name": N_STR, "region": N_STR, "industry": N_STR,
        "source": N_STR, "level": STR, "contact_name": N_STR, "phone": N_STR, "address": N_STR, "status": STR,
        "owner": nullable(ref("UserRef")), "opportunity_id": N_INT, "created_at": TIME, "updated_at": TIME,
    }),
    "CustomerPage": page_of("Customer"),
    "InstanceRef": obj({"id": INT, "process_id": STR, "title": STR,
                        "status": {"enum": ["running", "completed", "cancelled", "error"]},
                        "business_type": N_STR, "business_id": N_INT}),
    "Task": obj({
        "id": INT, "name": STR, "bpmn_id": STR, "form_key": N_STR,
        "status": {"enum": ["open", "completed", "cancelled"]}, "lane": N_STR, "candidate_role": N_STR,
        "candidates": {"type": "array", "description": "Whom an offered task is for: a user id, a role code or "
                       "a department id", "items": obj({"kind": {"enum": ["user", "role", "department"]},
                                                         "value": STR})},
        "assignee": nullable(ref("UserRef")), "due_at": N_TIME, "remind_at": N_TIME, "escalate_at": N_TIME,
        "overdue": BOOL, "created_at": TIME,
        "completed_at": N_TIME, "completed_by": nullable(ref("UserRef")), "process_instance": ref("InstanceRef"),
    }),
    "TaskDetail": {"allOf": [ref("Task"), obj({
        "form": nullable({**ANY_OBJECT, "description": "The task's form definition (form-js JSON); null when the "
                          "task takes no data"}),
        "form_data": {**ANY_OBJECT, "description": "The data the form opens with: process data it reads, then "
                      "the saved draft"},
        "options": {"type": "object", "description": "Option lists the form names by valuesKey, as the caller "
                    "may choose from them", "additionalProperties": {"type": "array", "items": obj({
                        "label": STR, "value": {}})}},
        "draft": nullable(ANY_OBJECT),
        "record": nullable({**ANY_OBJECT, "description": "The business record, with `type` (e.g. opportunity)"}),
        "choices": {"type": "object", "description": "Allowed values of choice fields by field key, e.g. assignee_id",
                    "additionalProperties": {"type": "array", "items": obj({"id": {}, "label": STR})}},
        "watchers": {"type": "array", "items": ref("UserRef")},
        "actions": {"type": "array", "items": {"enum": ["claim", "release", "complete", "draft", "reassign"]}},
        "approval": nullable({**ref("TaskApproval"), "description": "For an approval step (审批): the actions open "
                              "to you and what changed since you last decided; null for other tasks"}),
    })]},
    "TaskReassignment": obj({"assignee_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                             "comment": nullable({"type": "string", "maxLength": 2000})}, ["assignee_id"]),
    "TaskWatchers": obj({"user_ids": {"type": "array", "minItems": 1, "maxItems": 50,
                                      "items": {"type": "integer", "minimum": 1, "maximum": 2147483647}}},
                        ["user_ids"]),
    "InboxCounts": obj({"mine": INT, "claimable": INT, "watched": INT, "overdue": INT}),
    "TaskPage": {"allOf": [page_of("Task"), obj({"counts": ref("InboxCounts")})]},
    "TaskData": {**ANY_OBJECT, "description": (
        "The values of the task form's fields (see `form` in the task detail); unknown fields are refused, and a "
        "task without a form takes {}. Errors name the field path, e.g. plan_items.1.date")},
    "TaskCompletion": obj({"data": ref("TaskData"), "comment": nullable({"type": "string", "maxLength": 2000})},
                          ["data"]),
    "TaskDraft": obj({"data": ref("TaskData")}),
    "HistoryEvent": obj({"action": STR, "task_name": N_STR, "user": nullable(ref("UserRef")), "at": TIME,
                         "data": nullable(ANY_OBJECT), "comment": N_STR}),
    "ProcessInstance": {"allOf": [ref("InstanceRef"), obj({
        "definition": obj({"id": INT, "name": STR, "version": INT}),
        "started_by": nullable(ref("UserRef")), "started_at": TIME, "ended_at": N_TIME,
        "next_timer_at": N_TIME, "error": N_STR,
        "current_steps": {"type": "array", "items": STR, "description": "BPMN ids of the open steps"},
        "variables": ANY_OBJECT, "history": {"type": "array", "items": ref("HistoryEvent")},
    })]},
}

ERRORS = {
    "400": "Body is not a JSON object", "401": "Missing, invalid or expired token",
    "403": "Visible, but not allowed to you", "404": "Does not exist or is outside your scope",
    "409": "Conflicts with the record's current state", "422": "Invalid input; see error.fields",
    "429": "Too many failed sign-ins for this user name or address; wait Retry-After seconds",
    "500": "A process step failed; nothing was saved",
}
ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": STR}},
    "429": {"Retry-After": {"schema": INT, "description": "Seconds until a sign-in is accepted again"}},
}


def responses(ok: str, schema: str | None = None, *errors: str, headers: dict[str, Any] | None = None) -> dict:
    """An operation's responses: the success one plus the listed error statuses."""
    success: dict[str, Any] = {"description": "Success"}
    if schema:
        success["content"] = {JSON: {"schema": ref(schema)}}
    if headers:
        success["headers"] = headers
    return {ok: success, **{code: {"$ref": f"#/components/responses/E{code}"} for code in errors}}


def operation(operation_id: str, summary: str, tag: str, result: dict, *, body: str | None = None,
              params: list[dict] | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag], "responses": result}
    if body:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(body)}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                "A page past the last one is empty"),
          query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20})]
SEARCH = query("q", STR, "Search text")
TASK = [path_id("task_id")]
OPP = [path_id("opportunity_id")]
LOCATION = {"Location": {"schema": STR, "description": "URL of the new opportunity"}}

PATHS: dict[str, Any] = {
    "/auth/token": {
        "post": operation("issueToken", "Exchange username and password for a bearer token", "auth",
                          responses("201", "Token", "400", "401", "422", "429"), body="TokenRequest", public=True),
        "delete": operation("revokeToken", "Revoke the token of this request", "auth", responses("204", None, "401")),
    },
    "/auth/tokens": {"delete": operation(
        "revokeAllTokens", "Revoke every token of the signed-in user, this one included", "auth",
        responses("204", None, "401"))},
    "/me": {"get": operation("getMe", "The signed-in user and his permissions", "auth",
                             responses("200", "Me", "401"))},
    "/opportunities": {
        "get": operation("listOpportunities", "Visible opportunities, newest first", "opportunities",
                         responses("200", "OpportunityPage", "401", "422"), params=[
                             SEARCH, query("status", {"enum": [s.value for s in OpportunityStatus]}), *PAGING]),
        "post": operation("createOpportunity", "Create an opportunity; starts its assignment process",
                          "opportunities",
                          responses("201", "OpportunityDetail", "400", "401", "403", "422", "500", headers=LOCATION),
                          body="OpportunityInput"),
    },
    "/opportunities/{opportunity_id}": {
        "get": operation("getOpportunity", "One opportunity with its plan and customer", "opportunities",
                         responses("200", "OpportunityDetail", "401", "404"), params=OPP),
        "patch": operation("updateOpportunity", "Change fields while 未指派 (creator only)", "opportunities",
                           responses("200", "OpportunityDetail", "400", "401", "403", "404", "409", "422"),
                           body="OpportunityPatch", params=OPP),
        "delete": operation("deleteOpportunity", "Delete while 未指派 (creator only)", "opportunities",
                            responses("204", None, "401", "403", "404", "409"), params=OPP),
    },
    "/customers": {"get": operation("listCustomers", "Visible customers, newest first", "customers",
                                    responses("200", "CustomerPage", "401", "422"), params=[SEARCH, *PAGING])},
    "/customers/{customer_id}": {"get": operation("getCustomer", "One customer", "customers",
                                                  responses("200", "Customer", "401", "404"),
                                                  params=[path_id("customer_id")])},
    "/tasks": {"get": operation("listTasks", "One inbox view with the tab counts", "tasks",
                                responses("200", "TaskPage", "401", "422"), params=[
                                    query("view", {"enum": list(VIEWS), "default": "mine"}),
                                    query("process_id", STR, "Only tasks of this process"),
                                    query("overdue", BOOL, "Only tasks past their due time"), *PAGING])},
    "/tasks/{task_id}": {"get": operation("getTask", "A task with its record, draft, choices and actions", "tasks",
                                          responses("200", "TaskDetail", "401", "404"), params=TASK)},
    "/tasks/{task_id}/claim": {"post": operation(
        "claimTask", "Claim a task offered to your role", "tasks",
        responses("200", "TaskDetail", "401", "403", "404", "409"), params=TASK)},
    "/tasks/{task_id}/release": {"post": operation(
        "releaseTask", "Give a claimed task back to its role", "tasks",
        responses("200", "TaskDetail", "401", "403", "404", "409"), params=TASK)},
    "/tasks/{task_id}/complete": {"post": operation(
        "completeTask", "Complete a task; a second completion gets 409", "tasks",
        responses("200", "TaskDetail", "400", "401", "403", "404", "409", "422", "500"),
        body="TaskCompletion", params=TASK)},
    "/tasks/{task_id}/draft": {"post": operation(
        "saveTaskDraft", "Save a task's form without completing it", "tasks",
        responses("200", "TaskDetail", "400", "401", "403", "404", "409", "422", "500"),
        body="TaskDraft", params=TASK)},
    "/tasks/{task_id}/reassign": {"post": operation(
        "reassignTask", "Hand an open task to someone in your scope (转派); later steps and the record follow",
        "tasks", responses("200", "TaskDetail", "400", "401", "403", "404", "409", "422", "500"),
        body="TaskReassignment", params=TASK)},
    "/tasks/{task_id}/watchers": {"post": operation(
        "addTaskWatchers", "Copy people on a task (抄送): they see it and its record read-only", "tasks",
        responses("200", "TaskDetail", "400", "401", "403", "404", "409", "422"), body="TaskWatchers", params=TASK)},
    "/process-instances/{instance_id}": {"get": operation(
        "getProcessInstance", "Status, version, current steps, variables and history", "processes",
        responses("200", "ProcessInstance", "401", "404"), params=[path_id("instance_id")])},
    "/openapi.json": {"get": {**operation("getOpenApi", "This document", "meta", {"200": {
        "description": "The OpenAPI document", "content": {JSON: {"schema": ANY_OBJECT}}}}, public=True)}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "bpm-crm API", "version": "1",
             "description": "客户关系管理 JSON API. Every error has the shape of the Error schema."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "tags": [{"name": name} for name in ("auth", "opportunities", "customers", "tasks", "processes", "meta")],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "A token from POST /auth/token"}},
        "schemas": SCHEMAS,
        "responses": {
            f"E{code}": {"description": text, "content": {JSON: {"schema": ref("Error")}},
                         **({"headers": ERROR_HEADERS[code]} if code in ERROR_HEADERS else {})}
            for code, text in ERRORS.items()
        },
    },
}


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(DOCUMENT)
