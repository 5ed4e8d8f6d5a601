"""Opportunities over the API: create, validate, read within scope, edit and delete while 未指派."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Opportunity

from .helpers import OPPORTUNITY, assert_error


def opportunity_count() -> int:
    return db.session.scalar(select(func.count(Opportunity.id)))


def test_create_returns_the_record_with_its_location_and_process(client, auth):
    response = client.post("/api/v1/opportunities", json=OPPORTUNITY, headers=auth("manager1"))
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/opportunities/{body['id']}"
    assert body["number"] == f"JH{body['id']:06d}" and body["status"] == "未指派"
    assert body["created_by"]["username"] == "manager1" and body["assignee"] is None
    assert body["process_instance_id"] and body["plan_items"] == [] and body["customer_id"] is None
    assert body["created_at"].endswith("Z")

    fetched = client.get(response.headers["Location"], headers=auth("manager1"))
    assert fetched.status_code == 200 and fetched.json == body


@pytest.mark.parametrize(("payload", "fields"), [
    ({}, {"customer_name", "probability", "summary", "description"}),
    ({**OPPORTUNITY, "probability": 101}, {"probability"}),
    ({**OPPORTUNITY, "probability": "很高"}, {"probability"}),
    ({**OPPORTUNITY, "customer_name": "  "}, {"customer_name"}),
    ({**OPPORTUNITY, "contact_phone": "call me"}, {"contact_phone"}),
    ({**OPPORTUNITY, "summary": ["a"]}, {"summary"}),
    ({**OPPORTUNITY, "status": "开发成功", "assignee_id": 1}, {"status", "assignee_id"}),
])
def test_invalid_input_gets_422_per_field_and_creates_nothing(client, auth, payload, fields):
    error = assert_error(client.post("/api/v1/opportunities", json=payload, headers=auth("manager1")), 422)
    assert set(error["fields"]) == fields
    assert all(error["fields"][name] for name in fields)
    assert opportunity_count() == 0


def test_a_body_that_is_not_a_json_object_gets_400(client, auth):
    headers = auth("manager1")
    assert_error(client.post("/api/v1/opportunities", data=OPPORTUNITY, headers=headers), 400)
    assert_error(client.post("/api/v1/opportunities", json=[OPPORTUNITY], headers=headers), 400)
    assert opportunity_count() == 0


def test_a_role_without_the_create_permission_gets_403(client, auth):
    assert_error(client.post("/api/v1/opportunities", json=OPPORTUNITY, headers=auth("agent")), 403)
    assert opportunity_count() == 0


def test_list_is_scoped_searched_filtered_and_paged(client, auth, create_opportunity):
    mine = [create_opportunity("manager1", customer_name=f"客户{i}") for i in range(3)]
    create_opportunity("manager2", customer_name="别人的客户")
    response = client.get("/api/v1/opportunities?per_page=2", headers=auth("manager1"))
    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["pages"], body["page"], body["per_page"]) == (3, 2, 1, 2)
    assert [item["id"] for item in body["items"]] == [mine[2]["id"], mine[1]["id"]]
    page2 = client.get("/api/v1/opportunities?per_page=2&page=2", headers=auth("manager1")).json
    assert [item["id"] for item in page2["items"]] == [mine[0]["id"]]

    found = client.get("/api/v1/opportunities", query_string={"q": "客户1"}, headers=auth("manager1")).json
    assert [item["id"] for item in found["items"]] == [mine[1]["id"]]
    assigned = client.get("/api/v1/opportunities", query_string={"status": "已指派"}, headers=auth("manager1"))
    assert assigned.json["total"] == 0
    assert client.get("/api/v1/opportunities", headers=auth("admin")).json["total"] == 4


@pytest.mark.parametrize("query", ["per_page=101", "per_page=0", "page=0", "page=x", "status=done"])
def test_bad_list_parameters_get_422(client, auth, query):
    error = assert_error(client.get(f"/api/v1/opportunities?{query}", headers=auth("manager1")), 422)
    assert set(error["fields"]) == {query.split("=")[0]}


def test_someone_elses_opportunity_is_not_found(client, auth, create_opportunity):
    theirs = create_opportunity("manager2")
    url = f"/api/v1/opportunities/{theirs['id']}"
    for method, kwargs in [("get", {}), ("patch", {"json": {"summary": "x"}}), ("delete", {})]:
        error = assert_error(getattr(client, method)(url, headers=auth("manager1"), **kwargs), 404)
        assert theirs["customer_name"] not in error["message"]
    assert client.get(url, headers=auth("manager2")).json["summary"] == OPPORTUNITY["summary"]


def test_patch_changes_only_the_given_fields(client, auth, create_opportunity):
    created = create_opportunity("manager1")
    url = f"/api/v1/opportunities/{created['id']}"
    response = client.patch(url, json={"probability": 80, "contact": None}, headers=auth("manager1"))
    assert response.status_code == 200
    assert response.json["probability"] == 80 and response.json["contact"] is None
    assert response.json["summary"] == OPPORTUNITY["summary"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"probability": 101}, "probability"), ({"summary": ""}, "summary"), ({"description": None}, "description"),
    ({"number": "JH999999"}, "number"),
])
def test_invalid_patch_gets_422_and_changes_nothing(client, auth, create_opportunity, payload, field):
    created = create_opportunity("manager1")
    url = f"/api/v1/opportunities/{created['id']}"
    error = assert_error(client.patch(url, json={"customer_name": "新名字", **payload},
                                      headers=auth("manager1")), 422)
    assert set(error["fields"]) == {field}
    after = client.get(url, headers=auth("manager1")).json
    assert after == created


def test_patch_by_someone_who_sees_but_did_not_create_it_is_forbidden(client, auth, create_opportunity):
    created = create_opportunity("manager1")
    url = f"/api/v1/opportunities/{created['id']}"
    assert_error(client.patch(url, json={"probability": 10}, headers=auth("supervisor1")), 403)
    assert_error(client.delete(url, headers=auth("supervisor1")), 403)


def test_patch_and_delete_after_assignment_conflict(client, auth, create_opportunity, users):
    created = create_opportunity("manager1")
    task = client.get("/api/v1/tasks?view=claimable", headers=auth("supervisor1")).json["items"][0]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"assignee_id": users["manager1"].id}},
                       headers=auth("supervisor1"))
    assert done.status_code == 200
    url = f"/api/v1/opportunities/{created['id']}"
    error = assert_error(client.patch(url, json={"probability": 90}, headers=auth("manager1")), 409)
    assert "已指派" in error["message"]
    assert_error(client.delete(url, headers=auth("manager1")), 409)
    assert client.get(url, headers=auth("manager1")).json["probability"] == OPPORTUNITY["probability"]


def test_delete_removes_the_opportunity_and_ends_its_process(client, auth, create_opportunity):
    created = create_opportunity("manager1")
    url = f"/api/v1/opportunities/{created['id']}"
    response = client.delete(url, headers=auth("manager1"))
    assert response.status_code == 204 and response.data == b""
    assert_error(client.get(url, headers=auth("manager1")), 404)
    assert client.get("/api/v1/tasks?view=claimable", headers=auth("supervisor1")).json["total"] == 0
