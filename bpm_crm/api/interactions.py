"""Interactions (交往记录) over the API: list, read, create, change, delete (to the recycle bin)."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import AUDIT, body, customer_ref, day
from bpm_crm.api.inputs import choice_arg, id_arg, paging, text_arg
from bpm_crm.forms.interaction import INTERACTION
from bpm_crm.forms.json_schema import json_schema, properties
from bpm_crm.models import Interaction
from bpm_crm.services import interactions


def interaction(record: Interaction) -> dict[str, Any]:
    """An interaction with its customer and who recorded it."""
    return {
        "id": record.id, "customer": customer_ref(record.customer), "date": day(record.date), "place": record.place,
        "summary": record.summary, "detail": record.detail, "remarks": record.remarks,
        "created_by": schemas.user_ref(record.created_by),
        "created_at": schemas.timestamp(record.created_at), "updated_at": schemas.timestamp(record.updated_at),
    }


@bp.get("/interactions")
def list_interactions() -> Response:
    """Visible interactions, searched, filtered by customer, latest date first."""
    page, per_page = paging()
    result = interactions.list_interactions(
        user=current_user(), q=text_arg("q"), customer_id=id_arg("customer_id"),
        sort=choice_arg("sort", interactions.SORTS, "date") or "date", page=page, per_page=per_page)
    return jsonify(schemas.page(result, interaction))


@bp.post("/interactions")
def create_interaction() -> tuple[Response, int, dict[str, str]]:
    """Record an interaction with a customer the caller may update (date not after today)."""
    record = interactions.create_interaction(user=current_user(), values=body(interactions.FIELDS))
    return jsonify(interaction(record)), 201, {"Location": url_for("api.get_interaction",
                                                                   interaction_id=record.id)}


@bp.get("/interactions/<id:interaction_id>")
def get_interaction(interaction_id: int) -> Response:
    """One interaction."""
    return jsonify(interaction(interactions.get_interaction(interaction_id=interaction_id, user=current_user())))


@bp.patch("/interactions/<id:interaction_id>")
def update_interaction(interaction_id: int) -> Response:
    """Change some fields; the result must still be a valid interaction."""
    record = interactions.update_interaction(interaction_id=interaction_id, user=current_user(),
                                             values=body(interactions.FIELDS))
    return jsonify(interaction(record))


@bp.delete("/interactions/<id:interaction_id>")
def delete_interaction(interaction_id: int) -> tuple[str, int]:
    """Move an interaction to the recycle bin."""
    interactions.delete_interaction(interaction_id=interaction_id, user=current_user())
    return "", 204


openapi.SCHEMAS.update({
    "InteractionInput": json_schema(INTERACTION),
    "InteractionPatch": json_schema(INTERACTION, partial=True),
    "Interaction": openapi.obj({
        "id": openapi.INT, "customer": openapi.ref("CustomerRef"),
        **{name: schema for name, schema in properties(INTERACTION).items() if name != "customer_id"},
        "created_by": openapi.nullable(openapi.ref("UserRef")), **AUDIT,
    }),
    "InteractionPage": openapi.page_of("Interaction"),
})
_ID = [openapi.path_id("interaction_id")]
openapi.PATHS.update({
    "/interactions": {
        "get": openapi.operation("listInteractions", "Visible interactions, latest date first", "interactions",
                                 openapi.responses("200", "InteractionPage", "401", "422"), params=[
                                     openapi.SEARCH, openapi.query("customer_id", openapi.INT, "Only this customer's"),
                                     openapi.query("sort", {"enum": list(interactions.SORTS), "default": "date"}),
                                     *openapi.PAGING]),
        "post": openapi.operation("createInteraction", "Record an interaction with a customer you may update",
                                  "interactions", openapi.responses("201", "Interaction", "400", "401", "403", "422"),
                                  body="InteractionInput"),
    },
    "/interactions/{interaction_id}": {
        "get": openapi.operation("getInteraction", "One interaction", "interactions",
                                 openapi.responses("200", "Interaction", "401", "404"), params=_ID),
        "patch": openapi.operation("updateInteraction", "Change fields of an interaction", "interactions",
                                   openapi.responses("200", "Interaction", "400", "401", "403", "404", "422"),
                                   body="InteractionPatch", params=_ID),
        "delete": openapi.operation("deleteInteraction", "Move an interaction to the recycle bin", "interactions",
                                    openapi.responses("204", None, "401", "403", "404"), params=_ID),
    },
})
