"""Shared set-up of the API tests of a customer's records: customers and the documented shape of a body."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.models import Customer

from .test_openapi import properties


def make_customer(users, username: str | None, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id if username else None)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def documented(client, schema: str) -> set[str]:
    """The property names the OpenAPI document gives a schema."""
    document = client.get("/api/v1/openapi.json").json
    return properties(document, {"$ref": f"#/components/schemas/{schema}"})
