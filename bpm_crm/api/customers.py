"""Customers (客户): the caller's visible customers, list and detail."""
from __future__ import annotations

from flask import Response, jsonify

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import paging, text_arg
from bpm_crm.services import customers


@bp.get("/customers")
def list_customers() -> Response:
    """The caller's visible customers, newest first, searched by name, number, phone or contact."""
    page, per_page = paging()
    result = customers.list_customers(user=current_user(), q=text_arg("q"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, schemas.customer))


@bp.get("/customers/<id:customer_id>")
def get_customer(customer_id: int) -> Response:
    """One customer within the caller's scope."""
    return jsonify(schemas.customer(customers.get_customer(customer_id=customer_id, user=current_user())))
