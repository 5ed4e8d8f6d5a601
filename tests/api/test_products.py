"""Products and stock over the API: search, detail with inventory, inventory filters, bad parameters."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bpm_crm.extensions import db
from bpm_crm.models import InventoryItem, Product, Warehouse

from .helpers import assert_error


@pytest.fixture
def catalogue(app):
    soft = Product(code="P001", name="办公软件标准版", model="OA-2026", batch="B2401", unit="套", price=Decimal("1200"))
    printer = Product(code="P002", name="激光打印机", model="LJ-100", batch="B2402", price=Decimal("1800.5"))
    hangzhou, suzhou = Warehouse(name="杭州仓"), Warehouse(name="苏州仓")
    db.session.add_all([soft, printer, hangzhou, suzhou])
    db.session.flush()
    db.session.add_all([InventoryItem(product_id=soft.id, warehouse_id=hangzhou.id, quantity=30),
                        InventoryItem(product_id=soft.id, warehouse_id=suzhou.id, quantity=12),
                        InventoryItem(product_id=printer.id, warehouse_id=suzhou.id, quantity=4)])
    db.session.commit()
    return {"soft": soft.id, "printer": printer.id, "hangzhou": hangzhou.id, "suzhou": suzhou.id}


def test_search_by_name_model_and_batch(client, auth, catalogue):
    headers = auth("manager1")
    body = client.get("/api/v1/products?q=办公", headers=headers).json
    assert body["total"] == 1 and body["items"][0]["code"] == "P001" and body["items"][0]["stock"] == 42
    assert body["items"][0]["price"] == "1200.00"
    assert [p["code"] for p in client.get("/api/v1/products?model=LJ", headers=headers).json["items"]] == ["P002"]
    assert [p["code"] for p in client.get("/api/v1/products?batch=B2401", headers=headers).json["items"]] == ["P001"]


def test_product_detail_has_inventory_per_warehouse(client, auth, catalogue):
    body = client.get(f"/api/v1/products/{catalogue['soft']}", headers=auth("agent")).json
    assert body["stock"] == 42
    assert {(i["warehouse"]["name"], i["quantity"]) for i in body["inventory"]} == {("杭州仓", 30), ("苏州仓", 12)}
    assert_error(client.get("/api/v1/products/99999", headers=auth("agent")), 404)


def test_inventory_by_product_and_warehouse(client, auth, catalogue):
    headers = auth("manager2")
    by_warehouse = client.get(f"/api/v1/inventory?warehouse_id={catalogue['suzhou']}", headers=headers).json
    assert {(i["product"]["code"], i["quantity"]) for i in by_warehouse["items"]} == {("P001", 12), ("P002", 4)}
    by_product = client.get(f"/api/v1/inventory?product_id={catalogue['printer']}", headers=headers).json
    assert by_product["total"] == 1 and by_product["items"][0]["warehouse"]["name"] == "苏州仓"
    refused = client.get("/api/v1/inventory?product_id=abc", headers=headers)
    assert set(assert_error(refused, 422)["fields"]) == {"product_id"}


def test_product_reading_needs_the_permission_and_a_token(client, auth, catalogue):
    assert_error(client.get("/api/v1/products", headers=auth("owner")), 403)
    assert_error(client.get("/api/v1/products"), 401)
