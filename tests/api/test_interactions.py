"""Interactions over the API: CRUD, future date refused, scope 404, documented shape."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import Interaction

from .helpers import assert_error
from .records import documented, make_customer

RECORD = {"date": "2026-11-20", "place": "客户会议室", "summary": "演示新版本", "detail": "对报表感兴趣"}


@pytest.fixture(autouse=True)
def _today():
    clock.freeze(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


def test_create_read_patch_list_delete(client, auth, users):
    customer = make_customer(users, "manager1")
    headers = auth("manager1")
    created = client.post("/api/v1/interactions", json={**RECORD, "customer_id": str(customer.id)}, headers=headers)
    assert created.status_code == 201, created.json
    body = created.json
    assert set(body) == documented(client, "Interaction")
    assert body["created_by"]["username"] == "manager1" and body["date"] == "2026-11-20"
    patched = client.patch(f"/api/v1/interactions/{body['id']}", json={"date": "2026-11-23"}, headers=headers)
    assert patched.status_code == 200 and patched.json["date"] == "2026-11-23"
    error = assert_error(client.patch(f"/api/v1/interactions/{body['id']}", json={"date": "2026-11-24"},
                                      headers=headers), 422)
    assert error["fields"] == {"date": ["交往日期不能晚于今天"]}
    listing = client.get("/api/v1/interactions?q=演示", headers=headers).json
    assert [item["id"] for item in listing["items"]] == [body["id"]]
    assert client.delete(f"/api/v1/interactions/{body['id']}", headers=headers).status_code == 204
    assert db.session.get(Interaction, body["id"]) is None


def test_missing_fields_and_scope(client, auth, users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    headers = auth("manager1")
    error = assert_error(client.post("/api/v1/interactions", json={"customer_id": theirs.id}, headers=headers), 422)
    assert set(error["fields"]) == {"date", "place", "summary"}
    record = client.post("/api/v1/interactions", json={**RECORD, "customer_id": theirs.id},
                         headers=auth("manager2")).json
    assert_error(client.get(f"/api/v1/interactions/{record['id']}", headers=headers), 404)
    assert_error(client.delete(f"/api/v1/interactions/{record['id']}", headers=headers), 404)
    assert client.get(f"/api/v1/interactions/{record['id']}", headers=auth("supervisor2")).status_code == 200
    assert_error(client.get(f"/api/v1/interactions/{record['id']}", headers=auth("supervisor1")), 404)
