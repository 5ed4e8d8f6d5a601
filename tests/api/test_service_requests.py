"""Service request API: create by agent and manager, dictionary type, scope, edit and delete while new."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.models import Customer, ServiceRequest, ServiceStatus

from .helpers import assert_error

VALUES = {"type": "投诉", "summary": "设备频繁死机", "detail": "考勤机每天死机两三次。"}


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def test_agent_creates_for_any_customer_manager_only_for_his_own(client, auth, users):
    mine = customer(users["manager1"])
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    response = client.post("/api/v1/service-requests", headers=auth("agent"), json={**VALUES, "customer_id": theirs.id})
    assert response.status_code == 201, response.json
    record = response.json
    assert record["number"] == f"FW{record['id']:06d}" and record["status"] == "新创建"
    assert record["created_by"]["username"] == "agent" and record["handler"] is None
    assert response.headers["Location"].endswith(f"/api/v1/service-requests/{record['id']}")

    error = assert_error(client.post("/api/v1/service-requests", headers=auth("manager1"),
                                     json={**VALUES, "customer_id": theirs.id}), 422)
    assert error["fields"] == {"customer_id": ["客户不存在或您无权为其新建客户服务"]}
    error = assert_error(client.post("/api/v1/service-requests", headers=auth("manager1"),
                                     json={**VALUES, "type": "表扬", "customer_id": mine.id}), 422)
    assert error["fields"] == {"type": ["服务类型不在数据字典中"]}
    assert client.post("/api/v1/service-requests", headers=auth("manager1"),
                       json={**VALUES, "customer_id": mine.id}).status_code == 201

    assert_error(client.get(f"/api/v1/service-requests/{record['id']}", headers=auth("manager1")), 404)
    items = client.get("/api/v1/service-requests", headers=auth("manager1")).json["items"]
    assert [i["customer"]["id"] for i in items] == [mine.id]
    assert client.get("/api/v1/service-requests?type=投诉", headers=auth("agent")).json["total"] == 2
    assert_error(client.get("/api/v1/service-requests?type=表扬", headers=auth("agent")), 422)


def test_patch_and_delete_while_new(client, auth, users):
    mine = customer(users["manager1"])
    headers = auth("manager1")
    record = client.post("/api/v1/service-requests", headers=headers, json={**VALUES, "customer_id": mine.id}).json
    url = f"/api/v1/service-requests/{record['id']}"
    changed = client.patch(url, headers=headers, json={"summary": "考勤机死机"})
    assert changed.status_code == 200 and changed.json["summary"] == "考勤机死机"
    assert assert_error(client.patch(url, headers=headers, json={"status": "已归档"}), 422)["fields"] == {
        "status": ["未知或只读字段"]}
    assert_error(client.patch(url, headers=auth("supervisor1"), json={"summary": "x"}), 403)

    db.session.get(ServiceRequest, record["id"]).status = ServiceStatus.ASSIGNED.value
    db.session.commit()
    assert_error(client.patch(url, headers=headers, json={"summary": "x"}), 409)
    assert_error(client.delete(url, headers=headers), 409)
    db.session.get(ServiceRequest, record["id"]).status = ServiceStatus.NEW.value
    db.session.commit()
    assert client.delete(url, headers=headers).status_code == 204
    assert_error(client.get(url, headers=headers), 404)
