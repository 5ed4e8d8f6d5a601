"""The built-in sales system: product search, stock by product and warehouse, a customer's order history, scope."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, Order, OrderLine
from bpm_crm.services import products, sales


def customer(owner, name: str, number: str) -> Customer:
    record = Customer(name=name, number=number, owner_id=owner.id if owner else None)
    db.session.add(record)
    db.session.commit()
    return record


def order(customer_id: int, number: str, day: date, status: int, *lines: tuple[str, int, str]) -> Order:
    record = Order(number=number, customer_id=customer_id, order_date=day, status=status)
    for name, quantity, price in lines:
        amount = Decimal(price) * quantity
        record.lines.append(OrderLine(product_name=name, quantity=quantity, unit_price=Decimal(price), amount=amount))
        record.total = (record.total or Decimal(0)) + amount
    db.session.add(record)
    db.session.commit()
    return record


@pytest.fixture
def catalogue(users):
    admin = users["admin"]
    soft = products.create_product(user=admin, values=dict(code="P001", name="办公软件标准版", model="OA-2026",
                                                           batch="B2401", unit="套", price=Decimal("1200")))
    pro = products.create_product(user=admin, values=dict(code="P002", name="办公软件专业版", model="OA-2026P",
                                                          batch="B2402", unit="套", price=Decimal("2400")))
    printer = products.create_product(user=admin, values=dict(code="P003", name="激光打印机", model="LJ-100",
                                                              batch="B2401", unit="台", price=Decimal("1800")))
    hangzhou = products.create_warehouse(user=admin, name="杭州仓", address="杭州市余杭区")
    suzhou = products.create_warehouse(user=admin, name="苏州仓")
    products.set_stock(user=admin, product_id=soft.id, warehouse_id=hangzhou.id, quantity=30)
    products.set_stock(user=admin, product_id=soft.id, warehouse_id=suzhou.id, quantity=12)
    products.set_stock(user=admin, product_id=printer.id, warehouse_id=suzhou.id, quantity=5)
    return {"soft": soft.id, "pro": pro.id, "printer": printer.id, "hangzhou": hangzhou.id, "suzhou": suzhou.id}


def test_products_are_searched_by_name_model_and_batch_with_stock_totals(users, catalogue):
    agent = users["agent"]
    found = sales.search_products(user=agent, q="办公软件")
    assert [row.product.code for row in found.items] == ["P002", "P001"]  # by name
    assert {row.product.code: row.stock for row in found.items} == {"P001": 42, "P002": 0}
    assert [r.product.code for r in sales.search_products(user=agent, model="LJ").items] == ["P003"]
    assert {r.product.code for r in sales.search_products(user=agent, batch="B2401").items} == {"P001", "P003"}
    assert [r.product.code for r in sales.search_products(user=agent, q="p002").items] == ["P002"]  # by code
    assert sales.search_products(user=agent, q="办公", model="OA-2026P").total == 1
    assert sales.search_products(user=agent, q="不存在的产品").total == 0


def test_inventory_by_product_and_by_warehouse(users, catalogue):
    agent = users["agent"]
    by_product = sales.inventory(user=agent, product_id=catalogue["soft"])
    assert {(i.warehouse.name, i.quantity) for i in by_product.items} == {("杭州仓", 30), ("苏州仓", 12)}
    by_warehouse = sales.inventory(user=agent, warehouse_id=catalogue["suzhou"])
    assert {(i.product.code, i.quantity) for i in by_warehouse.items} == {("P001", 12), ("P003", 5)}
    both = sales.inventory(user=agent, product_id=catalogue["printer"], warehouse_id=catalogue["hangzhou"])
    assert both.total == 0
    stock = sales.product_stock(product_id=catalogue["soft"], user=agent)
    assert [i.warehouse.name for i in stock] == ["杭州仓", "苏州仓"]


def test_maintenance_validates_and_needs_product_manage(users, catalogue):
    admin = users["admin"]
    with pytest.raises(Invalid) as duplicate:
        products.create_product(user=admin, values=dict(code="P001", name="重复", price=Decimal("1")))
    assert duplicate.value.field_errors["code"] == ["产品编码已存在"]
    with pytest.raises(Invalid) as negative:
        products.update_product(product_id=catalogue["soft"], user=admin, values={"price": Decimal("-1")})
    assert "price" in negative.value.field_errors
    with pytest.raises(Invalid):
        products.set_stock(user=admin, product_id=catalogue["soft"], warehouse_id=catalogue["hangzhou"],
                           quantity=-3)
    with pytest.raises(Invalid):
        products.create_warehouse(user=admin, name="杭州仓")
    with pytest.raises(Forbidden):
        products.create_product(user=users["manager1"], values=dict(code="P9", name="x", price=Decimal("1")))
    products.set_stock(user=admin, product_id=catalogue["soft"], warehouse_id=catalogue["hangzhou"], quantity=0)
    assert sales.search_products(user=admin, q="标准版").items[0].stock == 12
    renamed = products.update_product(product_id=catalogue["pro"], user=admin, values={"name": "办公软件旗舰版"})
    assert renamed.name == "办公软件旗舰版" and renamed.code == "P002"


def test_history_holds_only_shipped_and_paid_orders_newest_first_with_lines_and_totals(users):
    manager = users["manager1"]
    c = customer(manager, "杭州云启科技", "KH000001")
    order(c.id, "D1", date(2026, 1, 5), 5, ("办公软件", 2, "1200.00"), ("打印机", 1, "1800.50"))
    order(c.id, "D2", date(2026, 3, 1), 6, ("办公软件", 1, "1200.00"))
    order(c.id, "D3", date(2026, 4, 1), 1, ("办公软件", 9, "1200.00"))  # 新建: not history
    order(c.id, "D4", date(2026, 2, 1), 4, ("办公软件", 9, "1200.00"))  # 部分发货: not history
    order(c.id, "D5", date(2026, 2, 10), 5, ("打印机", 3, "1800.00"))
    page = sales.customer_orders(customer_id=c.id, user=manager)
    assert [o.number for o in page.items] == ["D2", "D5", "D1"] and page.total == 3
    first = page.items[2]
    assert first.total == Decimal("4200.50") and [line.product_name for line in first.lines] == ["办公软件", "打印机"]
    second_page = sales.customer_orders(customer_id=c.id, user=manager, page=2, per_page=2)
    assert [o.number for o in second_page.items] == ["D1"] and second_page.pages == 2


def test_orders_are_scoped_by_their_customer(users):
    mine = customer(users["manager2"], "成都蜀味餐饮", "KH000002")
    placed = order(mine.id, "D9", date(2026, 1, 5), 6, ("收银系统", 1, "5000"))
    for outsider in ("manager1", "supervisor1", "quality"):
        with pytest.raises(NotFound):
            sales.customer_orders(customer_id=mine.id, user=users[outsider])
        with pytest.raises(NotFound):
            sales.get_order(order_id=placed.id, user=users[outsider])
    for insider in ("manager2", "supervisor2", "director", "agent"):
        assert sales.get_order(order_id=placed.id, user=users[insider]).number == "D9"
        assert sales.customer_orders(customer_id=mine.id, user=users[insider]).total == 1
    with pytest.raises(NotFound):
        sales.get_order(order_id=placed.id + 1000, user=users["admin"])


def test_product_reading_needs_product_read(users, catalogue):
    with pytest.raises(Forbidden):
        sales.search_products(user=users["owner"])
    with pytest.raises(NotFound):
        sales.get_product(product_id=99999, user=users["agent"])


def test_unknown_sales_system_setting_is_a_clear_error(app):
    app.config["SALES_SYSTEM"] = "sap"
    try:
        with pytest.raises(RuntimeError, match="SALES_SYSTEM"):
            sales.sales_system()
    finally:
        app.config["SALES_SYSTEM"] = "builtin"
