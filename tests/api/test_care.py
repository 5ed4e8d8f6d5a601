"""Care tasks over the API: CRUD, done once (409 the second time), filters, scope, documented shape."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import CareTask, Contact

from .helpers import assert_error
from .records import documented, make_customer

TASK = {"kind": "节日", "title": "春节问候", "due_date": "2026-11-24"}


@pytest.fixture(autouse=True)
def _today():
    clock.freeze(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


def test_create_done_twice_patch_delete(client, auth, users):
    customer = make_customer(users, "manager1")
    contact = Contact(customer_id=customer.id, name="钱伟", gender="男", position="经理", office_phone="0571-1234567")
    db.session.add(contact)
    db.session.commit()
    headers = auth("manager1")
    created = client.post("/api/v1/care-tasks", json={**TASK, "customer_id": customer.id, "contact_id": contact.id},
                          headers=headers)
    assert created.status_code == 201, created.json
    body = created.json
    assert set(body) == documented(client, "CareTask")
    assert body["assignee"]["username"] == "manager1" and body["overdue"] is True
    assert body["contact"] == {"id": contact.id, "name": "钱伟"}
    assert [t["id"] for t in client.get("/api/v1/care-tasks?due=overdue", headers=headers).json["items"]] == [
        body["id"]]

    done = client.post(f"/api/v1/care-tasks/{body['id']}/done", headers=headers)
    assert done.status_code == 200 and done.json["done_by"]["username"] == "manager1" and not done.json["overdue"]
    again = assert_error(client.post(f"/api/v1/care-tasks/{body['id']}/done", json={"note": "再次"},
                                     headers=headers), 409)
    assert again["message"] == "此关怀任务已由李明完成"
    assert client.get("/api/v1/care-tasks?due=overdue", headers=headers).json["total"] == 0
    assert client.get("/api/v1/care-tasks?due=done", headers=headers).json["total"] == 1

    patched = client.patch(f"/api/v1/care-tasks/{body['id']}", json={"title": "元宵问候"}, headers=headers)
    assert patched.status_code == 200 and patched.json["title"] == "元宵问候"
    assert client.delete(f"/api/v1/care-tasks/{body['id']}", headers=headers).status_code == 204
    assert db.session.get(CareTask, body["id"]) is None


def test_errors_scope_and_roles(client, auth, users):
    mine = make_customer(users, "manager1")
    other = make_customer(users, "manager1", "苏州恒达")
    stranger = Contact(customer_id=other.id, name="孙厂长", gender="男", position="厂长", office_phone="0512-1234567")
    db.session.add(stranger)
    db.session.commit()
    headers = auth("manager1")
    error = assert_error(client.post("/api/v1/care-tasks", json={**TASK, "customer_id": mine.id, "kind": "中秋",
                                                                  "contact_id": stranger.id}, headers=headers), 422)
    assert error["fields"] == {"kind": ["关怀类型不在数据字典中"], "contact_id": ["联系人不属于所选客户"]}
    assert_error(client.get("/api/v1/care-tasks?due=someday", headers=headers), 422)

    theirs = make_customer(users, "manager2", "成都蜀味")
    task = client.post("/api/v1/care-tasks", json={**TASK, "customer_id": theirs.id}, headers=auth("manager2")).json
    assert_error(client.get(f"/api/v1/care-tasks/{task['id']}", headers=headers), 404)
    assert_error(client.post(f"/api/v1/care-tasks/{task['id']}/done", headers=headers), 404)
    assert_error(client.get("/api/v1/care-tasks", headers=auth("agent")), 403)
    assert db.session.get(CareTask, task["id"]).done_at is None
