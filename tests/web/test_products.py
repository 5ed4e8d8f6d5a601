"""Product pages: search with stock totals, detail with stock per warehouse, maintenance, warehouses, export."""
from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import InventoryItem, Product, Warehouse

from .helpers import page_text

PRODUCT = dict(code="P001", name="办公软件标准版", model="OA-2026", batch="B2401", unit="套", price="1200.00",
               remarks="")


def seed() -> dict[str, int]:
    soft = Product(code="P001", name="办公软件标准版", model="OA-2026", batch="B2401", unit="套",
                   price=Decimal("1200"))
    printer = Product(code="P002", name="激光打印机", model="LJ-100", batch="B2402", unit="台", price=Decimal("1800"))
    hangzhou, suzhou = Warehouse(name="杭州仓"), Warehouse(name="苏州仓")
    db.session.add_all([soft, printer, hangzhou, suzhou])
    db.session.flush()
    db.session.add_all([InventoryItem(product_id=soft.id, warehouse_id=hangzhou.id, quantity=30),
                        InventoryItem(product_id=soft.id, warehouse_id=suzhou.id, quantity=12)])
    db.session.commit()
    return {"soft": soft.id, "printer": printer.id, "hangzhou": hangzhou.id, "suzhou": suzhou.id}


def test_search_by_name_model_and_batch_shows_stock_totals(login):
    seed()
    browser = login("manager1")
    page = page_text(browser.get("/products/"))
    assert "办公软件标准版" in page and "激光打印机" in page and ">42<" in page
    assert 'id="new-product"' not in page  # maintenance is for product.manage
    by_model = page_text(browser.get("/products/?model=LJ"))
    assert "激光打印机" in by_model and "办公软件标准版" not in by_model
    by_batch = page_text(browser.get("/products/?batch=B2401"))
    assert "办公软件标准版" in by_batch and "激光打印机" not in by_batch
    assert "没有符合条件的产品" in page_text(browser.get("/products/?q=不存在"))


def test_product_page_shows_stock_per_warehouse(login):
    ids = seed()
    page = page_text(login("agent").get(f"/products/{ids['soft']}"))
    assert "杭州仓" in page and "苏州仓" in page and 'id="stock-total">42<' in page
    assert 'id="stock-form"' not in page
    assert login("agent").get("/products/99999").status_code == 404


def test_admin_creates_edits_and_sets_stock_with_field_errors(login):
    ids = seed()
    admin = login("admin")
    refused = admin.post("/products/new", data={**PRODUCT, "name": "", "price": "-5"})
    page = page_text(refused)
    assert refused.status_code == 422
    assert 'data-field-error="name"' in page and 'data-field-error="price"' in page
    duplicate = admin.post("/products/new", data={**PRODUCT, "name": "重复"})
    assert duplicate.status_code == 422 and "产品编码已存在" in page_text(duplicate)
    created = admin.post("/products/new", data={**PRODUCT, "code": "P003", "name": "无线鼠标"})
    assert created.status_code == 302
    new_id = db.session.scalar(select(Product.id).where(Product.code == "P003"))
    assert created.headers["Location"] == f"/products/{new_id}"
    edited = admin.post(f"/products/{new_id}/edit", data={**PRODUCT, "code": "P003", "name": "无线鼠标 M2"})
    assert edited.status_code == 302 and db.session.get(Product, new_id).name == "无线鼠标 M2"

    bad = admin.post(f"/products/{ids['soft']}/stock", data={"warehouse_id": ids["suzhou"], "quantity": "-1"})
    assert bad.status_code == 422 and 'data-field-error="quantity"' in page_text(bad)
    good = admin.post(f"/products/{ids['soft']}/stock", data={"warehouse_id": ids["suzhou"], "quantity": "20"})
    assert good.status_code == 302
    assert 'id="stock-total">50<' in page_text(admin.get(f"/products/{ids['soft']}"))


def test_only_product_managers_maintain(login):
    ids = seed()
    manager = login("manager1")
    assert manager.get("/products/new").status_code == 403
    assert manager.post("/products/new", data={**PRODUCT, "code": "X"}).status_code == 403
    assert manager.post(f"/products/{ids['soft']}/stock", data={"warehouse_id": ids["suzhou"],
                                                                "quantity": "1"}).status_code == 403
    assert manager.post("/products/warehouses", data={"name": "广州仓"}).status_code == 403
    assert db.session.scalar(select(func.count(Product.id))) == 2


def test_warehouses_list_create_and_stock_by_warehouse(login):
    ids = seed()
    admin = login("admin")
    assert "杭州仓" in page_text(admin.get("/products/warehouses"))
    assert admin.post("/products/warehouses", data={"name": ""}).status_code == 422
    assert admin.post("/products/warehouses", data={"name": "杭州仓"}).status_code == 422
    assert admin.post("/products/warehouses", data={"name": "广州仓", "address": "广州市"}).status_code == 302
    assert "广州仓" in page_text(admin.get("/products/warehouses"))
    stock = page_text(admin.get(f"/products/stock?warehouse_id={ids['suzhou']}"))
    assert "办公软件标准版" in stock and "激光打印机" not in stock


def test_export_follows_the_filters(login):
    seed()
    response = login("manager1").get("/products/export.xlsx?q=办公")
    assert response.status_code == 200 and response.mimetype.endswith("sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("产品编码", "产品名称") and len(rows) == 2
    assert rows[1][0] == "P001" and rows[1][-1] == 42
