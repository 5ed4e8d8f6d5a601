"""Contacts over the API: 201/200/204, 422 field errors, 404 outside the scope, 403 for a sharee, documented shape."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.models import Contact, CustomerShare, RecycleBinEntry

from .helpers import assert_error
from .records import documented, make_customer

CONTACT = {"name": "钱伟", "gender": "女", "position": "采购经理", "office_phone": "0571-88886666",
           "mobile": "13800138001", "email": "qian@example.com", "birthday": "1985-06-01"}


def test_create_read_patch_list_delete(client, auth, users):
    customer = make_customer(users, "manager1")
    headers = auth("manager1")
    created = client.post("/api/v1/contacts", json={**CONTACT, "customer_id": customer.id}, headers=headers)
    assert created.status_code == 201, created.json
    body = created.json
    assert created.headers["Location"].endswith(f"/api/v1/contacts/{body['id']}")
    assert body["customer"] == {"id": customer.id, "number": customer.number, "name": "杭州云启科技有限公司"}
    assert body["birthday"] == "1985-06-01" and body["gender"] == "女"
    assert set(body) == documented(client, "Contact")
    assert client.get(f"/api/v1/contacts/{body['id']}", headers=headers).json == body

    patched = client.patch(f"/api/v1/contacts/{body['id']}", json={"position": "总经理", "mobile": None},
                           headers=headers)
    assert patched.status_code == 200 and patched.json["position"] == "总经理" and patched.json["mobile"] is None
    listing = client.get(f"/api/v1/contacts?customer_id={customer.id}&q=钱", headers=headers).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == body["id"]
    assert set(listing) == documented(client, "ContactPage")

    assert client.delete(f"/api/v1/contacts/{body['id']}", headers=headers).status_code == 204
    assert db.session.get(Contact, body["id"]) is None
    assert db.session.query(RecycleBinEntry).count() == 1
    assert_error(client.get(f"/api/v1/contacts/{body['id']}", headers=headers), 404)


def test_invalid_input_is_422_with_field_errors(client, auth, users):
    customer = make_customer(users, "manager1")
    headers = auth("manager1")
    error = assert_error(client.post("/api/v1/contacts", json={"customer_id": customer.id, "gender": "x",
                                                                "email": "bad", "name": ""}, headers=headers), 422)
    assert error["fields"] == {"name": ["请填写姓名"], "gender": ["性别应为“男”或“女”"], "position": ["请填写职位"],
                               "office_phone": ["请填写办公电话"], "email": ["电子邮箱格式不正确"]}
    unknown = assert_error(client.post("/api/v1/contacts", json={**CONTACT, "customer_id": customer.id, "id": 5},
                                       headers=headers), 422)
    assert list(unknown["fields"]) == ["id"]
    nested = assert_error(client.post("/api/v1/contacts", json={**CONTACT, "customer_id": customer.id,
                                                                 "name": ["a"]}, headers=headers), 422)
    assert list(nested["fields"]) == ["name"]
    assert_error(client.get("/api/v1/contacts?customer_id=abc", headers=headers), 422)
    assert_error(client.get("/api/v1/contacts?sort=age", headers=headers), 422)
    assert db.session.query(Contact).count() == 0


def test_other_managers_records_are_404_and_a_sharee_gets_403(client, auth, users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    contact = client.post("/api/v1/contacts", json={**CONTACT, "customer_id": theirs.id},
                          headers=auth("manager2")).json
    headers = auth("manager1")
    assert client.get("/api/v1/contacts", headers=headers).json["total"] == 0
    assert_error(client.get(f"/api/v1/contacts/{contact['id']}", headers=headers), 404)
    assert_error(client.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "改"}, headers=headers), 404)
    assert_error(client.delete(f"/api/v1/contacts/{contact['id']}", headers=headers), 404)
    error = assert_error(client.post("/api/v1/contacts", json={**CONTACT, "customer_id": theirs.id},
                                     headers=headers), 422)
    assert error["fields"] == {"customer_id": ["客户不存在或您无权查看"]}

    db.session.add(CustomerShare(customer_id=theirs.id, user_id=users["manager1"].id))
    db.session.commit()
    assert client.get(f"/api/v1/contacts/{contact['id']}", headers=headers).status_code == 200
    assert_error(client.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "改"}, headers=headers), 403)
    assert_error(client.post("/api/v1/contacts", json={**CONTACT, "customer_id": theirs.id}, headers=headers), 403)
    assert db.session.get(Contact, contact["id"]).name == "钱伟"
    assert_error(client.get("/api/v1/contacts/99999999999", headers=headers), 404)
