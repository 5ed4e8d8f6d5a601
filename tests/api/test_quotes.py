"""Quote API: create with lines, line editing with totals, validation, draft-only changes, scope."""
from __future__ import annotations

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, Quote, QuoteStatus, RecycleBinEntry

from .helpers import assert_error


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def body(of: Customer, **changes) -> dict:
    return {"customer_id": of.id, "name": "办公软件报价", "quote_date": "2026-11-20", **changes}


def test_create_edit_lines_and_delete(client, auth, users):
    mine = customer(users["manager1"])
    headers = auth("manager1")
    response = client.post("/api/v1/quotes", headers=headers, json=body(mine, lines=[
        {"product_name": "办公软件", "quantity": 3, "unit_price": "19.99", "discount_pct": 12.5}]))
    assert response.status_code == 201, response.json
    quote = response.json
    assert response.headers["Location"].endswith(f"/api/v1/quotes/{quote['id']}")
    assert quote["number"] == f"BJ{quote['id']:06d}" and quote["status"] == "草稿"
    assert quote["total"] == "52.47" and quote["lines"][0]["amount"] == "52.47"
    assert quote["customer"] == {"id": mine.id, "number": None, "name": mine.name}

    added = client.post(f"/api/v1/quotes/{quote['id']}/lines", headers=headers,
                        json={"product_name": "培训", "quantity": 1, "unit_price": 0.05, "discount_pct": 50})
    assert added.status_code == 201 and added.json["total"] == "52.50"
    line_id = added.json["lines"][1]["id"]
    changed = client.patch(f"/api/v1/quotes/{quote['id']}/lines/{line_id}", headers=headers, json={"quantity": 4})
    assert changed.status_code == 200 and changed.json["lines"][1]["amount"] == "0.10"
    assert changed.json["total"] == "52.57"
    removed = client.delete(f"/api/v1/quotes/{quote['id']}/lines/{quote['lines'][0]['id']}", headers=headers)
    assert removed.json["total"] == "0.10" and len(removed.json["lines"]) == 1
    renamed = client.patch(f"/api/v1/quotes/{quote['id']}", headers=headers, json={"name": "新名称"})
    assert renamed.status_code == 200 and renamed.json["name"] == "新名称"

    listing = client.get("/api/v1/quotes?status=草稿", headers=headers).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == quote["id"] and "lines" not in listing["items"][0]
    assert client.delete(f"/api/v1/quotes/{quote['id']}", headers=headers).status_code == 204
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "quote"


def test_invalid_input_gives_field_errors(client, auth, users):
    mine = customer(users["manager1"])
    headers = auth("manager1")
    error = assert_error(client.post("/api/v1/quotes", headers=headers, json=body(mine, name="", lines=[
        {"product_name": "x", "quantity": 0, "unit_price": "1", "discount_pct": 101}])), 422)
    assert error["fields"] == {"name": ["请填写报价名称"], "lines.0.quantity": ["数量应为正整数"],
                               "lines.0.discount_pct": ["折扣应在 0 到 100 之间"]}
    error = assert_error(client.post("/api/v1/quotes", headers=headers, json=body(mine, number="BJ1")), 422)
    assert error["fields"] == {"number": ["未知或只读字段"]}
    quote = client.post("/api/v1/quotes", headers=headers, json=body(mine)).json
    error = assert_error(client.post(f"/api/v1/quotes/{quote['id']}/lines", headers=headers, json={
        "product_name": "x", "quantity": 0, "unit_price": "1", "discount_pct": 101}), 422)
    assert set(error["fields"]) == {"quantity", "discount_pct"}
    assert_error(client.post(f"/api/v1/quotes/{quote['id']}/lines", headers=headers, json=[1]), 400)
    assert_error(client.get("/api/v1/quotes?customer_id=abc", headers=headers), 422)
    assert db.session.scalar(select(func.count(Quote.id))) == 1


def test_non_drafts_are_409_and_foreign_quotes_404(client, auth, users):
    mine = customer(users["manager1"])
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    error = assert_error(client.post("/api/v1/quotes", headers=auth("manager1"), json=body(theirs)), 422)
    assert error["fields"] == {"customer_id": ["客户不存在或您无权为其报价"]}
    foreign = client.post("/api/v1/quotes", headers=auth("manager2"), json=body(theirs)).json
    own = client.post("/api/v1/quotes", headers=auth("manager1"), json=body(mine, lines=[
        {"product_name": "x", "quantity": 1, "unit_price": "1"}])).json

    headers = auth("manager1")
    assert_error(client.get(f"/api/v1/quotes/{foreign['id']}", headers=headers), 404)
    assert_error(client.patch(f"/api/v1/quotes/{foreign['id']}", headers=headers, json={"name": "x"}), 404)
    assert_error(client.post(f"/api/v1/quotes/{foreign['id']}/lines", headers=headers,
                             json={"product_name": "x", "quantity": 1, "unit_price": "1"}), 404)
    assert [q["id"] for q in client.get("/api/v1/quotes", headers=headers).json["items"]] == [own["id"]]

    db.session.get(Quote, own["id"]).status = QuoteStatus.PENDING.value
    db.session.commit()
    line_id = own["lines"][0]["id"]
    assert_error(client.patch(f"/api/v1/quotes/{own['id']}/lines/{line_id}", headers=headers,
                              json={"quantity": 2}), 409)
    assert_error(client.delete(f"/api/v1/quotes/{own['id']}", headers=headers), 409)
    assert client.get(f"/api/v1/quotes/{own['id']}", headers=headers).json["total"] == "1.00"
