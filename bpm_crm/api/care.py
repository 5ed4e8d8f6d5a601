"""Care tasks (客户关怀) over the API: list with due filters, read, create, change, done, delete."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import AUDIT, DATE, body, customer_ref, day
from bpm_crm.api.inputs import choice_arg, id_arg, paging, text_arg
from bpm_crm.forms.care import CARE_DONE, CARE_TASK
from bpm_crm.forms.json_schema import json_schema
from bpm_crm.models import CareTask
from bpm_crm.services import care, dictionary


def care_task(record: CareTask) -> dict[str, Any]:
    """A care task: for whom, what, when due, who gives it and whether it is done."""
    return {
        "id": record.id, "customer": customer_ref(record.customer),
        "contact": {"id": record.contact.id, "name": record.contact.name} if record.contact else None,
        "kind": record.kind, "title": record.title, "due_date": day(record.due_date),
        "assignee": schemas.user_ref(record.assignee), "done_by": schemas.user_ref(record.done_by),
        "done_at": schemas.timestamp(record.done_at), "overdue": care.is_overdue(record), "note": record.note,
        "created_at": schemas.timestamp(record.created_at), "updated_at": schemas.timestamp(record.updated_at),
    }


@bp.get("/care-tasks")
def list_care_tasks() -> Response:
    """Visible care tasks, open ones by due date first; filter by kind, due, customer or assignee."""
    page, per_page = paging()
    result = care.list_care_tasks(
        user=current_user(), q=text_arg("q"), customer_id=id_arg("customer_id"),
        kind=choice_arg("kind", dictionary.choices(dictionary.CARE_KIND)), due=choice_arg("due", care.DUE_FILTERS),
        assignee_id=id_arg("assignee_id"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, care_task))


@bp.post("/care-tasks")
def create_care_task() -> tuple[Response, int, dict[str, str]]:
    """Plan a care task; the assignee defaults to the customer's account manager."""
    record = care.create_care_task(user=current_user(), values=body(care.FIELDS))
    return jsonify(care_task(record)), 201, {"Location": url_for("api.get_care_task", care_task_id=record.id)}


@bp.get("/care-tasks/<id:care_task_id>")
def get_care_task(care_task_id: int) -> Response:
    """One care task."""
    return jsonify(care_task(care.get_care_task(care_task_id=care_task_id, user=current_user())))


@bp.patch("/care-tasks/<id:care_task_id>")
def update_care_task(care_task_id: int) -> Response:
    """Change some fields; the result must still be a valid care task."""
    record = care.update_care_task(care_task_id=care_task_id, user=current_user(), values=body(care.FIELDS))
    return jsonify(care_task(record))


@bp.post("/care-tasks/<id:care_task_id>/done")
def complete_care_task(care_task_id: int) -> Response:
    """Mark the care as given (optional note); a second time answers 409."""
    payload = body(("note",), optional=True)
    record = care.mark_done(care_task_id=care_task_id, user=current_user(), note=payload.get("note"))
    return jsonify(care_task(record))


@bp.delete("/care-tasks/<id:care_task_id>")
def delete_care_task(care_task_id: int) -> tuple[str, int]:
    """Move a care task to the recycle bin."""
    care.delete_care_task(care_task_id=care_task_id, user=current_user())
    return "", 204


_N = openapi.nullable
openapi.SCHEMAS.update({
    "CareTaskInput": json_schema(CARE_TASK),
    "CareTaskPatch": json_schema(CARE_TASK, partial=True),
    "CareTaskDone": json_schema(CARE_DONE),
    "CareTask": openapi.obj({
        "id": openapi.INT, "customer": openapi.ref("CustomerRef"),
        "contact": _N(openapi.obj({"id": openapi.INT, "name": openapi.STR})), "kind": openapi.STR,
        "title": openapi.STR, "due_date": DATE, "assignee": _N(openapi.ref("UserRef")),
        "done_by": _N(openapi.ref("UserRef")), "done_at": openapi.N_TIME,
        "overdue": {"type": "boolean", "description": "Not done and due before today"}, "note": openapi.N_STR,
        **AUDIT,
    }),
    "CareTaskPage": openapi.page_of("CareTask"),
})
_ID = [openapi.path_id("care_task_id")]
openapi.PATHS.update({
    "/care-tasks": {
        "get": openapi.operation("listCareTasks", "Visible care tasks, open ones by due date", "care",
                                 openapi.responses("200", "CareTaskPage", "401", "403", "422"), params=[
                                     openapi.SEARCH, openapi.query("customer_id", openapi.INT, "Only this customer's"),
                                     openapi.query("kind", openapi.STR, "A 关怀类型 dictionary item"),
                                     openapi.query("due", {"enum": list(care.DUE_FILTERS)},
                                                   "overdue, due this week, open or done"),
                                     openapi.query("assignee_id", openapi.INT, "Only tasks given to this user"),
                                     *openapi.PAGING]),
        "post": openapi.operation("createCareTask", "Plan a care task for a customer you may update", "care",
                                  openapi.responses("201", "CareTask", "400", "401", "403", "422"),
                                  body="CareTaskInput"),
    },
    "/care-tasks/{care_task_id}": {
        "get": openapi.operation("getCareTask", "One care task", "care",
                                 openapi.responses("200", "CareTask", "401", "403", "404"), params=_ID),
        "patch": openapi.operation("updateCareTask", "Change fields of a care task", "care",
                                   openapi.responses("200", "CareTask", "400", "401", "403", "404", "422"),
                                   body="CareTaskPatch", params=_ID),
        "delete": openapi.operation("deleteCareTask", "Move a care task to the recycle bin", "care",
                                    openapi.responses("204", None, "401", "403", "404"), params=_ID),
    },
    "/care-tasks/{care_task_id}/done": {"post": openapi.operation(
        "completeCareTask", "Mark the care as given; a second time gets 409", "care",
        openapi.responses("200", "CareTask", "400", "401", "403", "404", "409", "422"), body="CareTaskDone",
        params=_ID)},
})
openapi.PATHS["/care-tasks/{care_task_id}/done"]["post"]["requestBody"]["required"] = False  # the note is optional
