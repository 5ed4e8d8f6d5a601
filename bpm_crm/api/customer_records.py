"""What the API of a customer's records shares: bodies limited to known fields, id filters, small references."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import request

from bpm_crm.api import openapi
from bpm_crm.api.inputs import json_object
from bpm_crm.errors import Invalid
from bpm_crm.forms.json_schema import DATE_SCHEMA, ID_SCHEMA
from bpm_crm.i18n import _
from bpm_crm.models import Customer

SCALARS = (str, int, float, bool, type(None))


def body(allowed: Iterable[str], *, optional: bool = False) -> dict[str, Any]:
    """The JSON object of the request with only `allowed` fields, each a scalar; an empty body is {} if optional."""
    if optional and not request.get_data():
        return {}
    payload = json_object()
    names = set(allowed)
    errors: dict[str, list[str]] = {}
    for name, value in payload.items():
        if name not in names:
            errors[name] = [str(_("未知或只读字段"))]
        elif not isinstance(value, SCALARS):
            errors[name] = [str(_("应为文本或数字"))]
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return payload


def customer_ref(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "number": customer.number, "name": customer.name}


def day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


DATE = DATE_SCHEMA
N_DATE = openapi.nullable(DATE)
ID_INPUT = ID_SCHEMA
AUDIT = {"created_at": openapi.TIME, "updated_at": openapi.TIME}

openapi.SCHEMAS.update({
    "CustomerRef": openapi.obj({"id": openapi.INT, "number": openapi.N_STR, "name": openapi.STR}),
})
