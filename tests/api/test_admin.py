"""API: dictionary, audit log, users (admins), recycle bin, and the login log of token requests."""
from __future__ import annotations

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Customer, LoginEvent
from bpm_crm.services import recycle
from bpm_crm.services.transaction import unit_of_work

from .helpers import assert_error
from .test_openapi import properties


def documented(client, name: str) -> set[str]:
    document = client.get("/api/v1/openapi.json").json
    return properties(document, {"$ref": f"#/components/schemas/{name}"})


def test_dictionary_by_type(client, auth):
    headers = auth("manager1")
    body = client.get("/api/v1/dictionary?type=地区", headers=headers).json
    assert "行业" in body["types"] and "地区" in body["types"]
    items = {e["item"]: e for e in body["items"]}
    assert items["杭州市"]["parent_id"] == items["浙江省"]["id"] and items["浙江省"]["parent_id"] is None
    assert {e["type"] for e in body["items"]} == {"地区"}
    levels = client.get("/api/v1/dictionary?type=客户等级", headers=headers).json["items"]
    assert [e["item"] for e in levels] == ["普通", "重点", "VIP"] and not any(e["editable"] for e in levels)
    assert set(levels[0]) == documented(client, "DictionaryEntry")
    assert_error(client.get("/api/v1/dictionary?type=不存在", headers=headers), 422)
    assert_error(client.get("/api/v1/dictionary"), 401)


def test_users_for_admins_only(client, auth, users):
    users["manager1"].mobile = "13900000001"
    db.session.commit()
    body = client.get("/api/v1/users?q=manager&per_page=50", headers=auth("admin")).json
    assert {u["username"] for u in body["items"]} == {"manager1", "manager2", "manager3"}
    manager1 = next(u for u in body["items"] if u["username"] == "manager1")
    assert manager1["superior"]["username"] == "supervisor1" and manager1["active"] is True
    assert manager1["mobile"] == "13900000001"
    assert {u["mobile"] for u in body["items"] if u["username"] != "manager1"} == {None}
    assert set(manager1) == documented(client, "AdminUser") and set(body) == documented(client, "AdminUserPage")
    assert client.get("/api/v1/users?active=false", headers=auth("admin")).json["total"] == 0
    assert_error(client.get("/api/v1/users?active=maybe", headers=auth("admin")), 422)
    assert_error(client.get("/api/v1/users", headers=auth("manager1")), 403)
    assert_error(client.get("/api/v1/users", headers=auth("ceo")), 403)


def test_token_requests_are_in_the_login_log(client):
    client.post("/api/v1/auth/token", json={"username": "manager1", "password": "wrong-password"},
                headers={"User-Agent": "crm-sync/2.0"})
    client.post("/api/v1/auth/token", json={"username": "nobody", "password": "demo1234"})
    client.post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"})
    events = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id)).all()[-3:]
    assert [(e.username, e.success, e.reason, e.channel) for e in events] == [
        ("manager1", False, "密码错误", "api"), ("nobody", False, "用户不存在", "api"), ("manager1", True, None, "api")]
    assert events[0].user_agent == "crm-sync/2.0" and events[0].user_id == events[2].user_id is not None


def test_audit_log_records_the_token_user_and_is_readable_by_auditors(client, auth, create_opportunity, users):
    opportunity = create_opportunity("manager1")
    response = client.patch(f"/api/v1/opportunities/{opportunity['id']}", json={"probability": 80},
                            headers=auth("manager1"))
    assert response.status_code == 200
    body = client.get(f"/api/v1/audit-log?record_type=opportunity&record_id={opportunity['id']}",
                      headers=auth("ceo")).json
    assert body["items"][-1]["action"] == "create" and body["items"][-1]["user"]["username"] == "manager1"
    update = body["items"][0]
    assert update["user"]["username"] == "manager1" and update["changes"]["probability"] == [60, 80]
    assert set(update) == documented(client, "AuditEntry") and set(body) == documented(client, "AuditEntryPage")
    only_updates = client.get("/api/v1/audit-log?action=update&record_type=opportunity", headers=auth("admin")).json
    assert {e["action"] for e in only_updates["items"]} == {"update"}
    assert_error(client.get("/api/v1/audit-log?action=explode", headers=auth("admin")), 422)
    assert_error(client.get("/api/v1/audit-log?date_from=yesterday", headers=auth("admin")), 422)
    assert_error(client.get("/api/v1/audit-log", headers=auth("manager1")), 403)


def test_a_record_history_is_readable_by_whoever_may_read_the_customer(client, auth, users):
    customer = Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id, created_by_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()
    path = f"/api/v1/audit-log?record_type=customer&record_id={customer.id}"
    body = client.get(path, headers=auth("manager1")).json
    assert [e["action"] for e in body["items"]] == ["create"]
    assert_error(client.get(path, headers=auth("manager2")), 403)


@unit_of_work
def _bin(customer_id: int, user) -> int:
    customer = db.session.get(Customer, customer_id)
    return recycle.move_to_bin(record=customer, user=user, label=f"客户 {customer.name}",
                               owner_id=customer.owner_id).id


def test_recycle_bin_list_and_restore(client, auth, users):
    customer = Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()
    customer_id = customer.id
    entry_id = _bin(customer_id, users["manager1"])

    body = client.get("/api/v1/recycle-bin", headers=auth("manager1")).json
    assert [(e["id"], e["label"], e["restorable"], e["rows"]) for e in body["items"]] == [
        (entry_id, "客户 杭州云启科技有限公司", True, 1)]
    assert set(body["items"][0]) == documented(client, "RecycleBinEntry")
    assert client.get("/api/v1/recycle-bin", headers=auth("manager2")).json["total"] == 0
    assert_error(client.get("/api/v1/recycle-bin?record_type=planet", headers=auth("manager1")), 422)

    assert_error(client.post(f"/api/v1/recycle-bin/{entry_id}/restore", headers=auth("manager2")), 404)
    assert db.session.get(Customer, customer_id) is None
    response = client.post(f"/api/v1/recycle-bin/{entry_id}/restore", headers=auth("manager1"))
    assert response.status_code == 200
    assert response.json == {"record_type": "customer", "record_id": customer_id, "label": "客户 杭州云启科技有限公司"}
    assert set(response.json) == documented(client, "RestoredRecord")
    assert db.session.get(Customer, customer_id).name == "杭州云启科技有限公司"
    assert_error(client.post(f"/api/v1/recycle-bin/{entry_id}/restore", headers=auth("manager1")), 404)
    assert_error(client.post("/api/v1/recycle-bin/99999999999999/restore", headers=auth("manager1")), 404)
    restored = db.session.scalar(select(AuditLog).where(AuditLog.action == "restore"))
    assert restored.user_id == users["manager1"].id and restored.record_id == customer_id
