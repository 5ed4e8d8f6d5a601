"""Level rules over the API: list, create with validation, delete, apply."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import LevelRule

from .helpers import assert_error


def test_create_list_apply_delete(client, auth):
    headers = auth("admin")
    created = client.post("/api/v1/level-rules", json={"level": "VIP", "min_total": "500000", "months": 12},
                          headers=headers)
    assert created.status_code == 201
    assert created.json == {"id": created.json["id"], "level": "VIP", "min_total": "500000.00", "months": 12,
                            "active": True}
    assert client.get("/api/v1/level-rules", headers=headers).json["items"] == [created.json]
    assert client.post("/api/v1/level-rules/apply", headers=headers).json == {"changed": 0, "by_level": {}}
    assert client.delete(f"/api/v1/level-rules/{created.json['id']}", headers=headers).status_code == 204
    assert_error(client.delete(f"/api/v1/level-rules/{created.json['id']}", headers=headers), 404)


@pytest.mark.parametrize(("payload", "fields"), [
    ({}, {"level", "min_total", "months"}),
    ({"level": "钻石", "min_total": 1, "months": 12}, {"level"}),
    ({"level": "VIP", "min_total": -1, "months": 12}, {"min_total"}),
    ({"level": "VIP", "min_total": "很多", "months": 12}, {"min_total"}),
    ({"level": "VIP", "min_total": 1, "months": 61}, {"months"}),
    ({"level": "VIP", "min_total": 1, "months": 12, "active": "yes"}, {"active"}),
    ({"level": "VIP", "min_total": 1, "months": 12, "id": 5}, {"id"}),
])
def test_invalid_rules_get_422_per_field(client, auth, payload, fields):
    response = client.post("/api/v1/level-rules", json=payload, headers=auth("admin"))
    assert set(assert_error(response, 422)["fields"]) == fields
    assert db.session.scalar(select(LevelRule.id)) is None


def test_rules_need_dictionary_manage(client, auth):
    assert_error(client.get("/api/v1/level-rules", headers=auth("director")), 403)
    assert_error(client.post("/api/v1/level-rules/apply", headers=auth("manager1")), 403)
