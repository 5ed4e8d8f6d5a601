"""Orders over the API: a customer's history in scope, one order, the import (preview, commit, duplicates)."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, Order, OrderLine

from .helpers import assert_error

HEADERS = ["订单号", "客户名称", "下单日期", "状态", "产品名称", "数量", "单价"]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    book.active.append(HEADERS)
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def customers(users):
    mine = Customer(name="杭州云启科技", number="KH000001", owner_id=users["manager1"].id)
    theirs = Customer(name="成都蜀味餐饮", number="KH000002", owner_id=users["manager2"].id)
    db.session.add_all([mine, theirs])
    db.session.commit()
    return {"mine": mine.id, "theirs": theirs.id}


def add_order(customer_id: int, number: str, day: date, status: int) -> int:
    record = Order(number=number, customer_id=customer_id, order_date=day, status=status, total=Decimal("300"),
                   lines=[OrderLine(product_name="办公软件", quantity=3, unit_price=Decimal("100"),
                                    amount=Decimal("300"))])
    db.session.add(record)
    db.session.commit()
    return record.id


def upload(client, headers, data: bytes, filename: str = "orders.xlsx"):
    return client.post("/api/v1/orders/imports", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data", headers=headers)


def test_history_newest_first_only_shipped_or_paid(client, auth, customers):
    add_order(customers["mine"], "D1", date(2026, 1, 1), 5)
    add_order(customers["mine"], "D2", date(2026, 2, 1), 6)
    add_order(customers["mine"], "D3", date(2026, 3, 1), 2)
    body = client.get(f"/api/v1/customers/{customers['mine']}/orders?per_page=1", headers=auth("manager1")).json
    assert body["total"] == 2 and body["pages"] == 2 and body["items"][0]["number"] == "D2"
    assert body["items"][0]["total"] == "300.00" and body["items"][0]["status_label"] == "已回款"
    assert body["items"][0]["lines"][0] == {"id": body["items"][0]["lines"][0]["id"], "product_id": None,
                                            "product_name": "办公软件", "quantity": 3, "unit_price": "100.00",
                                            "amount": "300.00"}
    second = client.get(f"/api/v1/customers/{customers['mine']}/orders?per_page=1&page=2", headers=auth("manager1"))
    assert [o["number"] for o in second.json["items"]] == ["D1"]


def test_another_managers_orders_are_404(client, auth, customers):
    oid = add_order(customers["theirs"], "SECRET", date(2026, 1, 1), 6)
    headers = auth("manager1")
    assert_error(client.get(f"/api/v1/customers/{customers['theirs']}/orders", headers=headers), 404)
    response = client.get(f"/api/v1/orders/{oid}", headers=headers)
    assert_error(response, 404)
    assert "SECRET" not in response.get_data(as_text=True)
    assert client.get(f"/api/v1/orders/{oid}", headers=auth("manager2")).json["number"] == "SECRET"


def test_import_preview_commit_and_duplicates(client, auth, customers):
    headers = auth("director")
    data = xlsx([["API1", "杭州云启科技", "2026-01-05", 5, "办公软件", 2, "10"],
                 ["API1", "杭州云启科技", "2026-01-05", 5, "培训", 1, "5.5"]])
    preview = upload(client, headers, data)
    assert preview.status_code == 201
    body = preview.json
    assert body["ok"] and body["orders"] == 1 and body["lines"] == 2 and body["errors"] == []
    assert preview.headers["Location"] == f"/api/v1/orders/imports/{body['job_id']}"
    assert db.session.scalar(select(func.count(Order.id))) == 0
    committed = client.post(f"/api/v1/orders/imports/{body['job_id']}/commit", headers=headers)
    assert committed.status_code == 200 and committed.json["orders"] == 1
    assert db.session.scalar(select(Order.total)) == Decimal("25.50")
    assert_error(client.post(f"/api/v1/orders/imports/{body['job_id']}/commit", headers=headers), 409)

    again = upload(client, headers, data).json
    assert not again["ok"] and [e["row"] for e in again["errors"]] == [2, 3]
    assert "订单号 API1 已存在，不能重复导入" in again["errors"][0]["messages"]
    refused = client.post(f"/api/v1/orders/imports/{again['job_id']}/commit", headers=headers)
    assert_error(refused, 422)
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_bad_uploads_get_clear_errors(client, auth, customers):
    headers = auth("director")
    assert set(assert_error(upload(client, headers, b"garbage"), 422)["fields"]) == {"file"}
    assert set(assert_error(upload(client, headers, b"", "empty.csv"), 422)["fields"]) == {"file"}
    assert set(assert_error(client.post("/api/v1/orders/imports", headers=headers), 422)["fields"]) == {"file"}
    assert_error(upload(client, auth("manager1"), xlsx([])), 403)
    assert_error(client.post("/api/v1/orders/imports/999/commit", headers=headers), 404)


def test_responses_have_exactly_the_documented_fields(client, auth, customers):
    from bpm_crm.models import InventoryItem, Product, Warehouse

    from .test_openapi import properties

    product = Product(code="P1", name="办公软件", price=Decimal("1"))
    warehouse = Warehouse(name="杭州仓")
    db.session.add_all([product, warehouse])
    db.session.flush()
    db.session.add(InventoryItem(product_id=product.id, warehouse_id=warehouse.id, quantity=3))
    db.session.commit()
    oid = add_order(customers["mine"], "D1", date(2026, 1, 1), 5)
    document = client.get("/api/v1/openapi.json").json
    headers, admin = auth("manager1"), auth("admin")
    job = upload(client, auth("director"), xlsx([["X1", "杭州云启科技", "2026-01-05", 5, "办公软件", 1, "1"]])).json
    rule = client.post("/api/v1/level-rules", json={"level": "VIP", "min_total": 1, "months": 1}, headers=admin).json
    samples = {
        "OrderPage": client.get(f"/api/v1/customers/{customers['mine']}/orders", headers=headers).json,
        "Order": client.get(f"/api/v1/orders/{oid}", headers=headers).json,
        "OrderImportPreview": job,
        "OrderImportResult": client.post(f"/api/v1/orders/imports/{job['job_id']}/commit",
                                         headers=auth("director")).json,
        "ProductPage": client.get("/api/v1/products", headers=headers).json,
        "ProductDetail": client.get(f"/api/v1/products/{product.id}", headers=headers).json,
        "InventoryPage": client.get("/api/v1/inventory", headers=headers).json,
        "LevelRule": rule,
        "LevelRuleList": client.get("/api/v1/level-rules", headers=admin).json,
        "LevelApplyResult": client.post("/api/v1/level-rules/apply", headers=admin).json,
    }
    for name, body in samples.items():
        assert set(body) == properties(document, {"$ref": f"#/components/schemas/{name}"}), name
    assert set(samples["Order"]["lines"][0]) == properties(document, {"$ref": "#/components/schemas/OrderLine"})
    assert set(samples["InventoryPage"]["items"][0]) == properties(
        document, {"$ref": "#/components/schemas/InventoryItem"})


def test_the_sales_system_reports_placed_orders_once(client, auth, customers):
    from bpm_crm.models import ChurnWarning

    from .test_openapi import properties

    warning = ChurnWarning(customer_id=customers["mine"], manager_id=None, status="预警",
                           last_order_date=date(2025, 1, 1))
    db.session.add(warning)
    db.session.commit()
    placed = {"number": "SYS-1", "customer_number": "KH000001", "order_date": "2026-01-05", "status": "已审核",
              "address": "杭州市西湖区", "lines": [{"product_name": "办公软件", "quantity": 2, "unit_price": "10"},
                                                {"product_name": "培训", "quantity": 1, "unit_price": 5.5}]}
    headers = auth("director")
    response = client.post("/api/v1/orders/placed", json={"orders": [placed]}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"recorded": ["SYS-1"], "known": [], "customers": 1, "levels_changed": 0,
                             "warnings_closed": 1}
    document = client.get("/api/v1/openapi.json").json
    assert set(response.json) == properties(document, {"$ref": "#/components/schemas/PlacedOrdersResult"})
    order = db.session.scalar(select(Order).where(Order.number == "SYS-1"))
    assert (order.total, order.status, len(order.lines), order.address) == (Decimal("25.50"), 2, 2, "杭州市西湖区")
    db.session.expire_all()
    assert (db.session.get(ChurnWarning, warning.id).status, db.session.get(ChurnWarning, warning.id).closed_by) \
        == ("已恢复", "order")

    # Delivered again (a webhook retried): nothing recorded twice.
    again = client.post("/api/v1/orders/placed", json={"orders": [placed]}, headers=headers)
    assert again.json["recorded"] == [] and again.json["known"] == ["SYS-1"]
    assert db.session.scalar(select(func.count(Order.id))) == 1

    # All or nothing, each order's problems under its index.
    bad = [{**placed, "number": "SYS-2"}, {**placed, "number": "SYS-3", "customer_number": "KH404"},
           {**placed, "number": "SYS-4", "lines": []}, "SYS-5"]
    error = assert_error(client.post("/api/v1/orders/placed", json={"orders": bad}, headers=headers), 422)
    assert set(error["fields"]) == {"orders[1]", "orders[2]", "orders[3]"}
    assert error["fields"]["orders[1]"] == ["客户编号 KH404 不存在"]
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert set(assert_error(client.post("/api/v1/orders/placed", json={"orders": []}, headers=headers),
                            422)["fields"]) == {"orders"}
    assert set(assert_error(client.post("/api/v1/orders/placed", json={"orders": [placed], "x": 1},
                                        headers=headers), 422)["fields"]) == {"x"}
    assert_error(client.post("/api/v1/orders/placed", json={"orders": [placed]}, headers=auth("manager1")), 403)
