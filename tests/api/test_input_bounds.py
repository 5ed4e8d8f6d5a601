"""Bad input is a clear 400/404/422 that names the field and changes nothing, never a 500 — both databases."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import (
    CareTask,
    ChurnWarning,
    Contact,
    Customer,
    CustomerShare,
    CustomerTransfer,
    Interaction,
    Quote,
    ServiceRequest,
)
from bpm_crm.services.paging import MAX_PAGE

from .helpers import assert_error
from .records import make_customer

LISTS = ["/api/v1/customers", "/api/v1/contacts", "/api/v1/interactions", "/api/v1/care-tasks",
         "/api/v1/churn-warnings", "/api/v1/opportunities", "/api/v1/tasks", "/api/v1/quotes",
         "/api/v1/service-requests", "/api/v1/products", "/api/v1/inventory", "/api/v1/recycle-bin",
         "/api/v1/audit-log", "/api/v1/users", "/api/v1/customers/{customer}/orders"]
ID_FILTERS = [("/api/v1/customers", "owner_id"), ("/api/v1/contacts", "customer_id"),
              ("/api/v1/interactions", "customer_id"), ("/api/v1/care-tasks", "customer_id"),
              ("/api/v1/care-tasks", "assignee_id"), ("/api/v1/churn-warnings", "customer_id"),
              ("/api/v1/churn-warnings", "manager_id"), ("/api/v1/quotes", "customer_id"),
              ("/api/v1/service-requests", "customer_id"), ("/api/v1/inventory", "product_id"),
              ("/api/v1/inventory", "warehouse_id"), ("/api/v1/audit-log", "user_id"),
              ("/api/v1/users", "department_id"), ("/api/v1/users", "role_id")]
BAD_IDS = ["2147483648", "9223372036854775808", "99999999999999999999", "0", "-1", "²", "٣", "1e3", "x"]
TOO_BIG = [2**31, 2**63, 2**70]
CARE = {"kind": "生日", "title": "生日问候", "due_date": "2026-12-01"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_page_numbers_past_the_limit_are_refused_naming_page_on_every_list(client, auth, users):
    headers = auth("admin")
    customer = make_customer(users, "manager1")
    for template in LISTS:
        path = template.format(customer=customer.id)
        for page in ("99999999999999999999", str(MAX_PAGE + 1), "0", "-1", "²", "1.5", "9" * 5000):
            error = assert_error(client.get(f"{path}?page={page}", headers=headers), 422)
            assert "page" in error["fields"], (path, page)
        last = client.get(f"{path}?page={MAX_PAGE}&per_page=100", headers=headers)
        assert last.status_code == 200, (path, last.get_data(as_text=True))
        assert last.json["items"] == [] and last.json["page"] == MAX_PAGE


def test_a_page_past_the_end_is_empty(client, auth, users):
    make_customer(users, "manager1")
    page = client.get("/api/v1/customers?page=2", headers=auth("manager1")).json
    assert (page["items"], page["total"], page["page"], page["pages"]) == ([], 1, 2, 1)


def test_id_filters_out_of_range_or_not_ascii_digits_are_422_naming_the_filter(client, auth):
    headers = auth("admin")
    for path, name in ID_FILTERS:
        for value in BAD_IDS:
            error = assert_error(client.get(f"{path}?{name}={value}", headers=headers), 422)
            assert name in error["fields"], (path, name, value)
    record = assert_error(client.get("/api/v1/attachments?record_type=customer&record_id=2147483648",
                                     headers=headers), 422)
    assert "record_id" in record["fields"]


@pytest.mark.parametrize("path", ["/api/v1/customers/{id}", "/api/v1/customers/{id}/overview",
                                  "/api/v1/customers/{id}/orders", "/api/v1/tasks/{id}", "/api/v1/quotes/{id}",
                                  "/api/v1/orders/{id}", "/api/v1/contacts/{id}", "/api/v1/process-instances/{id}"])
def test_path_ids_out_of_range_are_404(client, auth, path):
    headers = auth("admin")
    for value in ("2147483648", "9223372036854775808", "99999999999999999999", "9" * 40, "0", "٣"):
        assert_error(client.get(path.format(id=value), headers=headers), 404)
    assert_error(client.patch("/api/v1/customers/2147483648", json={"name": "x"}, headers=headers), 404)
    assert_error(client.delete("/api/v1/customers/9223372036854775808", headers=headers), 404)


def test_body_ids_out_of_range_are_422_naming_the_field_and_nothing_is_written(client, auth, users):
    headers = auth("manager1")
    admin = auth("admin")
    customer = make_customer(users, "manager1")
    bodies = [
        ("/api/v1/service-requests", ServiceRequest, "customer_id",
         {"type": "投诉", "summary": "设备频繁死机", "detail": "考勤机每天死机。"}),
        ("/api/v1/contacts", Contact, "customer_id",
         {"name": "钱经理", "gender": "男", "position": "经理", "office_phone": "0571-88888888"}),
        ("/api/v1/interactions", Interaction, "customer_id", {"date": "2026-11-20", "place": "客户公司",
                                                               "summary": "拜访"}),
        ("/api/v1/care-tasks", CareTask, "customer_id", CARE),
        ("/api/v1/churn-warnings", ChurnWarning, "customer_id", {}),
        ("/api/v1/quotes", Quote, "customer_id", {"name": "年度采购", "quote_date": "2026-11-20"}),
    ]
    for path, model, field, body in bodies:
        for value in (*TOO_BIG, str(2**31), "²", -5):
            error = assert_error(client.post(path, json={**body, field: value}, headers=headers), 422)
            assert field in error["fields"], (path, value, error)
        assert count(model) == 0, path
    for value in TOO_BIG:
        for extra in ({"contact_id": value}, {"assignee_id": value}):
            error = assert_error(client.post("/api/v1/care-tasks", json={**CARE, "customer_id": customer.id, **extra},
                                             headers=headers), 422)
            assert set(extra) <= set(error["fields"])
        owner = assert_error(client.post("/api/v1/customers", json={"name": "越界公司", "owner_id": value},
                                         headers=auth("supervisor1")), 422)
        assert "owner_id" in owner["fields"]
        transfer = assert_error(client.post("/api/v1/customers/transfer", json={"ids": [value], "to_user_id": value},
                                            headers=admin), 422)
        assert {"ids", "to_user_id"} <= set(transfer["fields"])
        share = assert_error(client.post(f"/api/v1/customers/{customer.id}/shares", json={"user_id": value},
                                         headers=headers), 422)
        assert "user_id" in share["fields"]
    assert count(Customer) == 1 and count(CustomerTransfer) == 0 and count(CustomerShare) == 0


def test_json_nested_too_deep_is_400_and_changes_nothing(client, auth):
    headers = {**auth("manager1"), "Content-Type": "application/json"}
    for body in ("[" * 100_000 + "]" * 100_000, '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}",
                 '{"a":' * 50_000 + "1" + "}" * 50_000):
        assert_error(client.post("/api/v1/customers", data=body, headers=headers), 400)
    nested: object = "x"
    for _ in range(32):
        nested = [nested]
    error = assert_error(client.post("/api/v1/customers", data=json.dumps({"name": nested}), headers=headers), 400)
    assert "32" in error["message"]
    assert count(Customer) == 0


def test_lone_surrogates_and_nul_in_json_strings_are_422_naming_the_field(client, auth, users):
    headers = {**auth("manager1"), "Content-Type": "application/json"}
    customer = make_customer(users, "manager1")
    cases = [('{"name": "\\ud800"}', "name"), ('{"name": "杭州\\udfff科技"}', "name"),
             ('{"name": "ok", "remarks": "a\\u0000b"}', "remarks"), ('{"name": "ok", "\\ud800": 1}', "\\ud800")]
    for raw, field in cases:
        error = assert_error(client.post("/api/v1/customers", data=raw, headers=headers), 422)
        assert field in error["fields"], (raw, error)
        error = assert_error(client.patch(f"/api/v1/customers/{customer.id}", data=raw, headers=headers), 422)
        assert field in error["fields"]
    error = assert_error(client.post("/api/v1/contacts", data=json.dumps({"customer_id": customer.id}).replace(
        "}", ', "remarks": "\\udc80"}'), headers=headers), 422)
    assert "remarks" in error["fields"]
    for raw in ('{"name": NaN}', '{"name": Infinity}', '{"name": "\\ud800', b'{"name": "\xff"}'):
        assert_error(client.post("/api/v1/customers", data=raw, headers=headers), 400)
    db.session.expire_all()
    assert count(Customer) == 1 and db.session.get(Customer, customer.id).name == "杭州云启科技有限公司"


def test_json_bodies_over_the_size_limit_are_413(client, auth):
    from bpm_crm.api.inputs import MAX_JSON_BYTES

    body = json.dumps({"name": "x", "remarks": "很" * MAX_JSON_BYTES})
    assert_error(client.post("/api/v1/customers", data=body, headers={**auth("manager1"),
                                                                      "Content-Type": "application/json"}), 413)
    assert count(Customer) == 0


def test_status_and_level_are_read_only_for_account_managers(client, auth, users):
    headers = auth("manager1")
    created = client.post("/api/v1/customers", json={"name": "杭州云启科技有限公司", "level": "重点"}, headers=headers)
    assert created.status_code == 201 and created.json["level"] == "重点" and created.json["status"] == "正常"
    path = f"/api/v1/customers/{created.json['id']}"
    for change in ({"status": "已流失"}, {"level": "VIP"}, {"status": "已流失", "level": "VIP", "phone": "0571-1"}):
        error = assert_error(client.patch(path, json=change, headers=headers), 422)
        assert set(error["fields"]) == set(change) - {"phone"}
    unchanged = client.patch(path, json={"status": "正常", "level": "重点", "short_name": "云启"}, headers=headers)
    assert unchanged.status_code == 200 and unchanged.json["short_name"] == "云启"
    churned = assert_error(client.post("/api/v1/customers", json={"name": "宁波港联物流", "status": "已流失"},
                                       headers=headers), 422)
    assert set(churned["fields"]) == {"status"}
    supervisor = assert_error(client.patch(path, json={"level": "VIP"}, headers=auth("supervisor1")), 422)
    assert "level" in supervisor["fields"]
    db.session.expire_all()
    record = db.session.get(Customer, created.json["id"])
    assert (record.status, record.level, record.phone) == ("正常", "重点", None)
    assert db.session.scalar(select(func.count(Customer.id))) == 1

    corrected = client.patch(path, json={"status": "已流失", "level": "VIP"}, headers=auth("admin"))
    assert corrected.status_code == 200, corrected.json
    assert (corrected.json["status"], corrected.json["level"]) == ("已流失", "VIP")


def test_the_document_marks_status_and_level_read_only(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    patch = schemas["CustomerPatch"]["properties"]
    assert patch["status"]["readOnly"] is True and patch["level"]["readOnly"] is True
    assert schemas["CustomerInput"]["properties"]["status"]["readOnly"] is True
    assert "readOnly" not in schemas["CustomerInput"]["properties"]["level"]
    assert schemas["Customer"]["properties"]["status"]["readOnly"] is True
    parameters = client.get("/api/v1/openapi.json").json["paths"]["/customers/{customer_id}"]["get"]["parameters"]
    assert parameters[0]["schema"]["maximum"] == 2**31 - 1
