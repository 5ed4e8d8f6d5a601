"""Customers (客户): list and pool, create, read, edit, delete, claim, transfer, release, share, overview."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import choice_arg, id_arg, json_object, paging, text_arg
from bpm_crm.api.openapi import (
    ID,
    INT,
    JSON,
    N_INT,
    N_STR,
    PAGING,
    SEARCH,
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
from bpm_crm.forms.customer import CUSTOMER as CUSTOMER_RULES
from bpm_crm.forms.json_schema import json_schema, properties
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Customer, CustomerShare, CustomerTransfer
from bpm_crm.services import customers
from bpm_crm.services.customers import EDITABLE_FIELDS, CustomerOverview


def customer(record: Customer) -> dict[str, Any]:
    """A customer with every field of its record, its owner (None: in the public pool) and times."""
    return {
        "id": record.id,
        "number": record.number,
        **{name: getattr(record, name) for name in EDITABLE_FIELDS if name not in customers.MONEY_FIELDS},
        **{name: None if (value := getattr(record, name)) is None else str(value)
           for name in customers.MONEY_FIELDS},
        "owner": schemas.user_ref(record.owner),
        "opportunity_id": record.opportunity_id,
        "created_at": schemas.timestamp(record.created_at),
        "updated_at": schemas.timestamp(record.updated_at),
    }


def share(row: CustomerShare) -> dict[str, Any]:
    return {"user": schemas.user_ref(row.user), "created_at": schemas.timestamp(row.created_at)}


def transfer(row: CustomerTransfer) -> dict[str, Any]:
    return {"kind": row.kind, "from_user": schemas.user_ref(row.from_user), "to_user": schemas.user_ref(row.to_user),
            "by_user": schemas.user_ref(row.by_user), "reason": row.reason,
            "created_at": schemas.timestamp(row.created_at)}


def overview(value: CustomerOverview) -> dict[str, Any]:
    """Counts of every linked record type, shares, transfers and the caller's allowed actions."""
    return {
        "customer": customer(value.customer),
        "counts": {name: section.count for name, section in value.sections.items()},
        "shares": [share(row) for row in value.shares],
        "transfers": [transfer(row) for row in value.transfers],
        "actions": sorted(value.actions),
    }


def _values(payload: dict[str, Any], *, allow_owner: bool) -> dict[str, Any]:
    """The JSON body's fields; unknown and read-only ones (number, owner on edit) are refused."""
    allowed = set(EDITABLE_FIELDS) | ({"owner_id"} if allow_owner else set())
    errors = {name: [str(_("未知或只读字段"))] for name in payload if name not in allowed}
    for name, value in payload.items():
        if name in allowed and not (value is None or isinstance(value, str | int | float)):
            errors[name] = [str(_("应为文本或数字"))]
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return payload


def _filters() -> dict[str, Any]:
    return {
        "q": text_arg("q"),
        "view": choice_arg("view", customers.VIEWS, "mine") or "mine",
        "region": text_arg("region", 60),
        "level": text_arg("level", 20),
        "status": choice_arg("status", customers.STATUSES),
        "owner_id": id_arg("owner_id"),
        "sort": choice_arg("sort", customers.SORTS),
    }


@bp.get("/customers")
def list_customers() -> Response:
    """The caller's customers (view=mine) or the public pool (view=pool), searched, filtered, sorted, paged."""
    page, per_page = paging()
    result = customers.list_customers(user=current_user(), **_filters(), page=page, per_page=per_page)
    return jsonify(schemas.page(result, customer))


@bp.post("/customers")
def create_customer() -> tuple[Response, int, dict[str, str]]:
    """Record a customer; the number is generated, the owner is the caller unless he may choose one."""
    record = customers.create_customer(user=current_user(), values=_values(json_object(), allow_owner=True))
    return jsonify(customer(record)), 201, {"Location": url_for("api.get_customer", customer_id=record.id)}


@bp.get("/customers/<id:customer_id>")
def get_customer(customer_id: int) -> Response:
    """One customer within the caller's scope (also shared ones and the pool)."""
    return jsonify(customer(customers.get_customer(customer_id=customer_id, user=current_user())))


@bp.patch("/customers/<id:customer_id>")
def update_customer(customer_id: int) -> Response:
    """Change some fields; the number and the owner cannot be changed here."""
    values = _values(json_object(), allow_owner=False)
    record = customers.update_customer(customer_id=customer_id, user=current_user(), values=values)
    return jsonify(customer(record))


@bp.delete("/customers/<id:customer_id>")
def delete_customer(customer_id: int) -> tuple[str, int]:
    """Move the customer and its records to the recycle bin."""
    customers.delete_customer(customer_id=customer_id, user=current_user())
    return "", 204


@bp.post("/customers/<id:customer_id>/claim")
def claim_customer(customer_id: int) -> Response:
    """Take a customer from the public pool; 409 when someone else was faster."""
    return jsonify(customer(customers.claim_customer(customer_id=customer_id, user=current_user())))


@bp.post("/customers/transfer")
def transfer_customers() -> Response:
    """Give customers to another account manager, with a reason."""
    payload = json_object()
    ids, target, reason = payload.get("ids"), payload.get("to_user_id"), payload.get("reason")
    errors: dict[str, list[str]] = {}
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and parse_id(i) for i in ids):
        errors["ids"] = [str(_("应为客户 id 的列表"))]
    if not isinstance(target, int) or parse_id(target) is None:
        errors["to_user_id"] = [str(_("应为记录编号（整数）"))]
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = [str(_("应为文本"))]
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    moved = customers.transfer_customers(customer_ids=ids, to_user_id=target, reason=reason,  # type: ignore[arg-type]
                                         user=current_user())
    return jsonify({"items": [customer(row) for row in moved], "transferred": len(moved)})


@bp.post("/customers/<id:customer_id>/release")
def release_customer(customer_id: int) -> Response:
    """Put the customer back into the public pool."""
    payload = json_object() if request.content_length else {}
    reason = payload.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Invalid(str(_("请更正标出的字段")), {"reason": [str(_("应为文本"))]})
    return jsonify(customer(customers.release_customer(customer_id=customer_id, user=current_user(), reason=reason)))


@bp.post("/customers/<id:customer_id>/shares")
def share_customer(customer_id: int) -> tuple[Response, int]:
    """Let another active user read the customer."""
    user_id = json_object().get("user_id")
    if not isinstance(user_id, int) or parse_id(user_id) is None:
        raise Invalid(str(_("请更正标出的字段")), {"user_id": [str(_("应为记录编号（整数）"))]})
    row = customers.share_customer(customer_id=customer_id, user_id=user_id, user=current_user())
    return jsonify(share(row)), 201


@bp.delete("/customers/<id:customer_id>/shares/<id:user_id>")
def unshare_customer(customer_id: int, user_id: int) -> tuple[str, int]:
    """Stop sharing the customer with this user."""
    customers.unshare_customer(customer_id=customer_id, user_id=user_id, user=current_user())
    return "", 204


@bp.get("/customers/<id:customer_id>/overview")
def customer_overview(customer_id: int) -> Response:
    """How many contacts, interactions, opportunities … the customer has, with shares and transfers."""
    return jsonify(overview(customers.customer_overview(customer_id=customer_id, user=current_user())))


def _nstr(limit: int) -> dict[str, Any]:
    return nullable({"type": "string", "maxLength": limit})


PATCH = "Only the fields to change; number and owner are read-only, status and level read-only except for admins"
OPTIONS = {"status": list(customers.STATUSES)}  # the enum; the other choices are dictionary data
# Kept by processes: refused for all but admins (a new customer's level is free).
LOCKED_ON_CREATE, LOCKED_ON_UPDATE = ["status"], sorted(customers.PROCESS_FIELDS)
OWNER = {"owner_id": {**N_INT, "description": "Account manager to own it (supervisors and above); default: the caller"}}
MONEY = nullable({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "description": "Decimal amount ≥ 0"})
FIELDS: dict[str, Any] = {
    **properties(CUSTOMER_RULES, OPTIONS),
    "level": {"type": "string", "readOnly": True, "description": CUSTOMER_RULES["level"].description},
    "status": {"enum": OPTIONS["status"], "readOnly": True, "description": CUSTOMER_RULES["status"].description},
    **{name: MONEY for name in customers.MONEY_FIELDS},
}
CUSTOMER = [path_id("customer_id")]
COUNTS = ["contacts", "interactions", "opportunities", "quotes", "orders", "service", "churn", "care", "processes",
          "attachments"]

openapi.SCHEMAS.update({
    "Customer": obj({"id": INT, "number": N_STR, **FIELDS, "owner": nullable(ref("UserRef")),
                     "opportunity_id": N_INT, "created_at": TIME, "updated_at": TIME},
                    description="owner null: the customer is in the public pool (公海)"),
    "CustomerPage": openapi.page_of("Customer"),
    "CustomerInput": json_schema(CUSTOMER_RULES, options=OPTIONS, extra=OWNER, read_only=LOCKED_ON_CREATE),
    "CustomerPatch": json_schema(CUSTOMER_RULES, partial=True, options=OPTIONS, read_only=LOCKED_ON_UPDATE,
                                 description=PATCH),
    "CustomerTransferRequest": obj({"ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": 500},
                                    "to_user_id": ID, "reason": _nstr(200)}, ["ids", "to_user_id"]),
    "CustomerTransferResult": obj({"items": {"type": "array", "items": ref("Customer")}, "transferred": INT}),
    "CustomerRelease": obj({"reason": _nstr(200)}, []),
    "CustomerShareRequest": obj({"user_id": ID}),
    "CustomerShare": obj({"user": ref("UserRef"), "created_at": TIME}),
    "CustomerTransfer": obj({"kind": {"enum": ["claim", "transfer", "release"]},
                             "from_user": nullable(ref("UserRef")), "to_user": nullable(ref("UserRef")),
                             "by_user": nullable(ref("UserRef")), "reason": N_STR, "created_at": TIME}),
    "CustomerOverview": obj({
        "customer": ref("Customer"),
        "counts": obj({name: INT for name in COUNTS}),
        "shares": {"type": "array", "items": ref("CustomerShare")},
        "transfers": {"type": "array", "items": ref("CustomerTransfer"), "description": "Newest first"},
        "actions": {"type": "array", "items": {"enum": ["update", "delete", "transfer", "release", "share",
                                                        "claim"]}},
    }),
})
openapi.PATHS.update({
    "/customers": {
        "get": operation("listCustomers", "My customers (view=mine) or the public pool (view=pool)", "customers",
                         responses("200", "CustomerPage", "401", "403", "422"), params=[
                             SEARCH, query("view", {"enum": list(customers.VIEWS), "default": "mine"}),
                             query("region", STR, "Region path; a province includes its cities"),
                             query("level", STR), query("status", {"enum": list(customers.STATUSES)}),
                             query("owner_id", ID), query("sort", {"enum": list(customers.SORTS),
                                                                    "default": customers.DEFAULT_SORT},
                                                           "Field, prefixed with - for descending"),
                             *PAGING]),
        "post": operation("createCustomer", "Create a customer (number generated)", "customers",
                          responses("201", "Customer", "400", "401", "403", "422", headers={
                              "Location": {"schema": STR, "description": "URL of the new customer"}}),
                          body="CustomerInput"),
    },
    "/customers/{customer_id}": {
        "get": operation("getCustomer", "One customer", "customers", responses("200", "Customer", "401", "404"),
                         params=CUSTOMER),
        "patch": operation("updateCustomer", "Change fields (not the number or owner)", "customers",
                           responses("200", "Customer", "400", "401", "403", "404", "422"),
                           body="CustomerPatch", params=CUSTOMER),
        "delete": operation("deleteCustomer", "Move to the recycle bin with its records", "customers",
                            responses("204", None, "401", "403", "404"), params=CUSTOMER),
    },
    "/customers/{customer_id}/claim": {"post": {**operation(
        "claimCustomer", "Claim from the public pool; 409 if already taken", "customers",
        responses("200", "Customer", "401", "403", "404", "409"), params=CUSTOMER),
        "requestBody": {"required": False, "content": {JSON: {"schema": obj({}, [], description="Ignored")}}}}},
    "/customers/transfer": {"post": operation(
        "transferCustomers", "Transfer customers to another account manager", "customers",
        responses("200", "CustomerTransferResult", "400", "401", "403", "404", "422"),
        body="CustomerTransferRequest")},
    "/customers/{customer_id}/release": {"post": operation(
        "releaseCustomer", "Put the customer into the public pool", "customers",
        responses("200", "Customer", "400", "401", "403", "404", "409", "422"), body="CustomerRelease",
        params=CUSTOMER)},
    "/customers/{customer_id}/shares": {"post": operation(
        "shareCustomer", "Share read-only with another active user", "customers",
        responses("201", "CustomerShare", "400", "401", "403", "404", "409", "422"), body="CustomerShareRequest",
        params=CUSTOMER)},
    "/customers/{customer_id}/shares/{user_id}": {"delete": operation(
        "unshareCustomer", "Stop sharing with a user", "customers", responses("204", None, "401", "403", "404"),
        params=[*CUSTOMER, path_id("user_id")])},
    "/customers/{customer_id}/overview": {"get": operation(
        "getCustomerOverview", "Counts of the linked records, shares, transfers, allowed actions", "customers",
        responses("200", "CustomerOverview", "401", "404"), params=CUSTOMER)},
})
