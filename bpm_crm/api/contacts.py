"""Contacts (联系人) over the API: list, read, create, change, delete (to the recycle bin)."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.customer_records import AUDIT, N_DATE, body, customer_ref, day
from bpm_crm.api.inputs import choice_arg, id_arg, paging, text_arg
from bpm_crm.forms.contact import CONTACT
from bpm_crm.forms.json_schema import json_schema, properties
from bpm_crm.models import Contact
from bpm_crm.services import contacts


def contact(record: Contact) -> dict[str, Any]:
    """A contact with the customer he works for."""
    return {
        "id": record.id, "customer": customer_ref(record.customer), "name": record.name, "gender": record.gender,
        "position": record.position, "office_phone": record.office_phone, "mobile": record.mobile,
        "email": record.email, "birthday": day(record.birthday), "lunar_birthday": record.lunar_birthday,
        "remarks": record.remarks,
        "created_at": schemas.timestamp(record.created_at), "updated_at": schemas.timestamp(record.updated_at),
    }


@bp.get("/contacts")
def list_contacts() -> Response:
    """Visible contacts, searched, filtered by customer, by name or newest first."""
    page, per_page = paging()
    result = contacts.list_contacts(user=current_user(), q=text_arg("q"), customer_id=id_arg("customer_id"),
                                    sort=choice_arg("sort", contacts.SORTS, "newest") or "newest",
                                    page=page, per_page=per_page)
    return jsonify(schemas.page(result, contact))


@bp.post("/contacts")
def create_contact() -> tuple[Response, int, dict[str, str]]:
    """Add a contact to a customer the caller may update."""
    record = contacts.create_contact(user=current_user(), values=body(contacts.FIELDS))
    return jsonify(contact(record)), 201, {"Location": url_for("api.get_contact", contact_id=record.id)}


@bp.get("/contacts/<id:contact_id>")
def get_contact(contact_id: int) -> Response:
    """One contact."""
    return jsonify(contact(contacts.get_contact(contact_id=contact_id, user=current_user())))


@bp.patch("/contacts/<id:contact_id>")
def update_contact(contact_id: int) -> Response:
    """Change some fields; the result must still be a valid contact."""
    record = contacts.update_contact(contact_id=contact_id, user=current_user(), values=body(contacts.FIELDS))
    return jsonify(contact(record))


@bp.delete("/contacts/<id:contact_id>")
def delete_contact(contact_id: int) -> tuple[str, int]:
    """Move a contact to the recycle bin."""
    contacts.delete_contact(contact_id=contact_id, user=current_user())
    return "", 204


openapi.SCHEMAS.update({
    "ContactInput": json_schema(CONTACT),
    "ContactPatch": json_schema(CONTACT, partial=True),
    "Contact": openapi.obj({
        "id": openapi.INT, "customer": openapi.ref("CustomerRef"),
        **{name: schema for name, schema in properties(CONTACT).items() if name != "customer_id"},
        "birthday": N_DATE, **AUDIT,
    }),
    "ContactPage": openapi.page_of("Contact"),
})
_ID = [openapi.path_id("contact_id")]
openapi.PATHS.update({
    "/contacts": {
        "get": openapi.operation("listContacts", "Visible contacts (their customer is readable)", "contacts",
                                 openapi.responses("200", "ContactPage", "401", "422"), params=[
                                     openapi.SEARCH, openapi.query("customer_id", openapi.INT, "Only this customer's"),
                                     openapi.query("sort", {"enum": list(contacts.SORTS), "default": "newest"}),
                                     *openapi.PAGING]),
        "post": openapi.operation("createContact", "Add a contact to a customer you may update", "contacts",
                                  openapi.responses("201", "Contact", "400", "401", "403", "422"),
                                  body="ContactInput"),
    },
    "/contacts/{contact_id}": {
        "get": openapi.operation("getContact", "One contact", "contacts",
                                 openapi.responses("200", "Contact", "401", "404"), params=_ID),
        "patch": openapi.operation("updateContact", "Change fields of a contact", "contacts",
                                   openapi.responses("200", "Contact", "400", "401", "403", "404", "422"),
                                   body="ContactPatch", params=_ID),
        "delete": openapi.operation("deleteContact", "Move a contact to the recycle bin", "contacts",
                                    openapi.responses("204", None, "401", "403", "404", "409"), params=_ID),
    },
})
