"""Service requests over the API: the detail with steps, deadlines and sign-off; filters; 转办; 催办; SLA figures;
the notification centre."""
from __future__ import annotations

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, Department

from .helpers import assert_error
from .test_openapi import properties


def customer_id(users):
    row = Customer(name="接口测试有限公司", owner_id=users["manager1"].id)
    db.session.add(row)
    db.session.commit()
    return row.id


def department(name):
    return db.session.scalar(select(Department).where(Department.name == name)).id


def test_a_complaint_over_the_api_with_its_process_and_notifications(client, auth, users):
    agent, lead = auth("agent"), auth("service_lead")
    document = client.get("/api/v1/openapi.json").json
    schema = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    created = client.post("/api/v1/service-requests", headers=agent, json={
        "type": "投诉", "customer_id": customer_id(users), "summary": "漏发配件", "detail": "少了两个电源"})
    assert created.status_code == 201
    request_id = created.json["id"]
    detail = client.get(f"/api/v1/service-requests/{request_id}", headers=agent).json
    assert set(detail) == properties(document, schema("ServiceRequestDetail"))
    assert [step["step"] for step in detail["waiting"]] == ["accept"] and detail["sla"]["response"]["done"] is False
    assert detail["status_trail"][0]["status"] == "新创建"
    assert (detail["status"], detail["ticket_kind"], detail["stage"]) == ("新创建", "疑难工单", "坐席受理")

    task_id = detail["waiting"][0]["task_id"]
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=lead,
                       json={"data": {"departments": [department("质量部")]}})
    assert done.status_code == 200, done.json
    detail = client.get(f"/api/v1/service-requests/{request_id}", headers=lead).json
    assert detail["status"] == "已分配" and detail["sign_off"][0]["departments"][0]["state"] == "open"
    assert (detail["ticket_kind"], detail["stage"]) == ("疑难工单", "处理中")
    listed = client.get("/api/v1/service-requests", headers=lead).json["items"]
    assert [(r["id"], r["ticket_kind"], r["stage"]) for r in listed] == [(request_id, "疑难工单", "处理中")]
    assert detail["sla"]["response"]["done"] is True and detail["sla"]["response"]["met"] is True

    assert client.post(f"/api/v1/service-requests/{request_id}/nudge", headers=agent).json == {
        "notified": [users["quality"].id]}
    assert_error(client.post(f"/api/v1/service-requests/{request_id}/nudge", headers=agent), 409)
    inbox = client.get("/api/v1/notifications?unread=true", headers=auth("quality")).json
    assert inbox["unread"] == 1 and inbox["items"][0]["kind"] == "nudge"
    assert set(inbox["items"][0]) == properties(document, schema("Notification"))
    note = inbox["items"][0]["id"]
    assert_error(client.post(f"/api/v1/notifications/{note}/read", headers=agent), 404)
    assert client.post(f"/api/v1/notifications/{note}/read", headers=auth("quality")).json["read_at"]
    assert client.post("/api/v1/notifications/read-all", headers=auth("quality")).json == {"marked": 0}

    assert_error(client.post(f"/api/v1/service-requests/{request_id}/transfer", headers=lead,
                             json={"to_user_id": users["quality"].id}), 409)  # nothing to hand over yet
    levels = client.get("/api/v1/service-requests/service-levels", headers=lead).json
    assert set(levels) == properties(document, schema("ServiceLevels")) and levels["total"] == 1
    assert client.get("/api/v1/service-requests?overdue=true", headers=lead).json["total"] == 0
    assert client.get(f"/api/v1/service-requests?handler_id={users['service_lead'].id}",
                      headers=lead).json["total"] == 1
    assert_error(client.get("/api/v1/service-requests?overdue=maybe", headers=lead), 422)


def test_bad_input_over_the_api_changes_nothing(client, auth, users):
    agent = auth("agent")
    base = {"type": "咨询", "customer_id": customer_id(users), "summary": "保修", "detail": "问保修期"}
    assert_error(client.post("/api/v1/service-requests", headers=agent, json={**base, "answer": "x" * 2001}), 422)
    assert_error(client.post("/api/v1/service-requests", headers=agent,
                             json={**base, "type": "投诉", "answer": "已答复"}), 422)
    assert_error(client.post("/api/v1/service-requests", headers=agent, json={**base, "status": "已归档"}), 422)
    assert client.get("/api/v1/service-requests", headers=agent).json["total"] == 0
    closed = client.post("/api/v1/service-requests", headers=agent, json={**base, "answer": "两年"}).json
    assert closed["status"] == "已归档" and closed["sla"]["resolution"]["done"] is True
    assert (closed["ticket_kind"], closed["stage"]) == ("简易工单", "处理完毕")
    assert_error(client.get(f"/api/v1/service-requests/{closed['id']}", headers=auth("manager2")), 404)
    assert_error(client.post(f"/api/v1/service-requests/{closed['id']}/transfer", headers=agent,
                             json={"to_user_id": 10 ** 30}), 422)
