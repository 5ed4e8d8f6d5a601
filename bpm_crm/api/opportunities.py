"""Opportunities (销售机会): list, create (starts the process), read, edit and delete while 未指派."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from werkzeug.datastructures import MultiDict

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import choice_arg, json_object, paging, text_arg
from bpm_crm.errors import Invalid
from bpm_crm.forms.opportunity import OpportunityForm
from bpm_crm.i18n import _
from bpm_crm.models import Opportunity, OpportunityStatus
from bpm_crm.services import opportunities
from bpm_crm.services.opportunities import EDITABLE_FIELDS


def _formdata(payload: dict[str, Any]) -> MultiDict:
    """JSON values as form text; refuses unknown or read-only fields and non-scalar values."""
    errors: dict[str, list[str]] = {}
    data: MultiDict = MultiDict()
    for name, value in payload.items():
        if name not in EDITABLE_FIELDS:
            errors[name] = [str(_("未知或只读字段"))]
        elif isinstance(value, str):
            data[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            data[name] = str(value)
        elif value is not None:
            errors[name] = [str(_("应为文本或数字"))]
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return data


def _validated(data: MultiDict) -> dict[str, Any]:
    form = OpportunityForm(formdata=data, meta={"csrf": False})
    if not form.validate():
        raise Invalid(str(_("请更正标出的字段")),
                      {name: [str(message) for message in messages] for name, messages in form.errors.items()})
    return form.values()


def _current_values(record: Opportunity) -> MultiDict:
    return MultiDict({name: str(value) for name in EDITABLE_FIELDS
                      if (value := getattr(record, name)) is not None})


@bp.get("/opportunities")
def list_opportunities() -> Response:
    """The caller's visible opportunities, newest first, searched and filtered by status."""
    page, per_page = paging()
    result = opportunities.list_opportunities(
        user=current_user(), q=text_arg("q"), status=choice_arg("status", [s.value for s in OpportunityStatus]),
        page=page, per_page=per_page,
    )
    return jsonify(schemas.page(result, schemas.opportunity))


@bp.post("/opportunities")
def create_opportunity() -> tuple[Response, int, dict[str, str]]:
    """Record an opportunity and start its assignment process."""
    values = _validated(_formdata(json_object()))
    record = opportunities.create_opportunity(user=current_user(), values=values)
    location = url_for("api.get_opportunity", opportunity_id=record.id)
    return jsonify(schemas.opportunity_detail(record)), 201, {"Location": location}


@bp.get("/opportunities/<id:opportunity_id>")
def get_opportunity(opportunity_id: int) -> Response:
    """One opportunity with its plan items, assignee, customer and process instance."""
    record = opportunities.get_opportunity(opportunity_id=opportunity_id, user=current_user())
    return jsonify(schemas.opportunity_detail(record))


@bp.patch("/opportunities/<id:opportunity_id>")
def update_opportunity(opportunity_id: int) -> Response:
    """Change some fields of a 未指派 opportunity; the result must still be a valid opportunity."""
    user = current_user()
    payload = json_object()
    supplied = _formdata(payload)
    record = opportunities.get_opportunity(opportunity_id=opportunity_id, user=user)
    merged = _current_values(record)
    for name in payload:
        if name in supplied:
            merged[name] = supplied[name]
        else:  # an explicit null clears the field
            merged.pop(name, None)
    values = _validated(merged)
    changes = {name: values[name] for name in payload}
    record = opportunities.update_opportunity(opportunity_id=opportunity_id, user=user, values=changes)
    return jsonify(schemas.opportunity_detail(record))


@bp.delete("/opportunities/<id:opportunity_id>")
def delete_opportunity(opportunity_id: int) -> tuple[str, int]:
    """Delete a 未指派 opportunity (its creator only) and end its process."""
    opportunities.delete_opportunity(opportunity_id=opportunity_id, user=current_user())
    return "", 204
