"""Opportunities (销售机会): list, create (starts the process), read, edit and delete while 未指派."""
from __future__ import annotations

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import body
from bpm_crm.api.inputs import choice_arg, paging, text_arg
from bpm_crm.models import OpportunityStatus
from bpm_crm.services import opportunities
from bpm_crm.services.opportunities import EDITABLE_FIELDS


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
    record = opportunities.create_opportunity(user=current_user(), values=body(EDITABLE_FIELDS))
    location = url_for("api.get_opportunity", opportunity_id=record.id)
    return jsonify(schemas.opportunity_detail(record)), 201, {"Location": location}


@bp.get("/opportunities/<id:opportunity_id>")
def get_opportunity(opportunity_id: int) -> Response:
    """One opportunity with its plan items, assignee, customer and process instance."""
    record = opportunities.get_opportunity(opportunity_id=opportunity_id, user=current_user())
    return jsonify(schemas.opportunity_detail(record))


@bp.patch("/opportunities/<id:opportunity_id>")
def update_opportunity(opportunity_id: int) -> Response:
    """Change some fields of a 未指派 opportunity (null clears one); the result must still be a valid opportunity."""
    record = opportunities.update_opportunity(opportunity_id=opportunity_id, user=current_user(),
                                              values=body(EDITABLE_FIELDS))
    return jsonify(schemas.opportunity_detail(record))


@bp.delete("/opportunities/<id:opportunity_id>")
def delete_opportunity(opportunity_id: int) -> tuple[str, int]:
    """Delete a 未指派 opportunity (its creator only) and end its process."""
    opportunities.delete_opportunity(opportunity_id=opportunity_id, user=current_user())
    return "", 204
