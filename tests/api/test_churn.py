"""Churn warnings over the API: raise, measures (201), confirm with reason, recover, 409s, scope, shape."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.models import Customer

from .helpers import assert_error
from .records import documented, make_customer


def test_raise_measures_confirm(client, auth, users):
    customer = make_customer(users, "manager1")
    headers = auth("manager1")
    created = client.post("/api/v1/churn-warnings", json={"customer_id": customer.id}, headers=auth("supervisor1"))
    assert created.status_code == 201, created.json
    body = created.json
    assert set(body) == documented(client, "ChurnWarning")
    assert body["status"] == "预警" and body["manager"]["username"] == "manager1" and body["measures"] == []
    duplicate = assert_error(client.post("/api/v1/churn-warnings", json={"customer_id": customer.id},
                                         headers=headers), 409)
    assert duplicate["message"] == "该客户已有未关闭的流失预警"

    url = f"/api/v1/churn-warnings/{body['id']}"
    early = assert_error(client.post(f"{url}/confirm", json={"reason": "转向竞争对手"}, headers=headers), 409)
    assert early["message"] == "请先记录至少一条暂缓措施，再确认流失"
    first = client.post(f"{url}/measures", json={"content": "上门拜访"}, headers=headers)
    assert first.status_code == 201 and first.json["status"] == "暂缓流失"
    second = client.post(f"{url}/measures", json={"content": "九折优惠"}, headers=auth("supervisor1")).json
    assert [(m["content"], m["author"]["username"]) for m in second["measures"]] == [
        ("上门拜访", "manager1"), ("九折优惠", "supervisor1")]
    assert set(second["measures"][0]) == documented(client, "ChurnMeasure")

    missing = assert_error(client.post(f"{url}/confirm", json={"reason": ""}, headers=headers), 422)
    assert missing["fields"] == {"reason": ["请填写流失原因"]}
    confirmed = client.post(f"{url}/confirm", json={"reason": "转向竞争对手"}, headers=headers)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "确认流失"
    assert confirmed.json["reason"] == "转向竞争对手" and confirmed.json["closed_at"]
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).status == "已流失"
    assert_error(client.post(f"{url}/recover", headers=headers), 409)
    assert_error(client.post(f"{url}/measures", json={"content": "x"}, headers=headers), 409)
    listing = client.get("/api/v1/churn-warnings?status=确认流失", headers=headers).json
    assert [w["id"] for w in listing["items"]] == [body["id"]]
    assert set(listing) == documented(client, "ChurnWarningPage")


def test_recover_scope_and_delete(client, auth, users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    body = client.post("/api/v1/churn-warnings", json={"customer_id": theirs.id}, headers=auth("manager2")).json
    url = f"/api/v1/churn-warnings/{body['id']}"
    headers = auth("manager1")
    assert_error(client.get(url, headers=headers), 404)
    assert_error(client.post(f"{url}/recover", headers=headers), 404)
    assert_error(client.post("/api/v1/churn-warnings", json={"customer_id": theirs.id}, headers=headers), 422)
    assert_error(client.get("/api/v1/churn-warnings?status=gone", headers=headers), 422)
    assert_error(client.get("/api/v1/churn-warnings", headers=auth("agent")), 403)

    recovered = client.post(f"{url}/recover", headers=auth("manager2"))
    assert recovered.status_code == 200 and recovered.json["status"] == "已恢复"
    assert client.get(f"/api/v1/churn-warnings?manager_id={users['manager2'].id}",
                      headers=auth("director")).json["total"] == 1
    assert client.delete(url, headers=auth("manager2")).status_code == 204
    assert_error(client.get(url, headers=auth("manager2")), 404)
