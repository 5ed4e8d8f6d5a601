"""Maintenance of the built-in sales system: products, warehouses and stock quantities (product.manage)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import InventoryItem, Product, User, Warehouse
from bpm_crm.services import permissions
from bpm_crm.services.transaction import unit_of_work

PRODUCT_FIELDS = ("code", "name", "model", "batch", "unit", "price", "remarks")


def _check_product(values: dict[str, Any], product_id: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if not values.get("code"):
        errors["code"] = ["请填写产品编码"]
    if not values.get("name"):
        errors["name"] = ["请填写产品名称"]
    price = values.get("price")
    if price is None or Decimal(price) < 0:
        errors["price"] = ["单价不能为负数"]
    if values.get("code"):
        clash = db.session.scalar(select(Product.id).where(Product.code == values["code"]))
        if clash is not None and clash != product_id:
            errors["code"] = ["产品编码已存在"]
    if errors:
        raise Invalid("请更正标出的字段", errors)


@unit_of_work
def create_product(*, user: User, values: dict[str, Any]) -> Product:
    """Add a product (code unique, name required, price ≥ 0); commits."""
    permissions.require(user, "product.manage")
    _check_product(values, None)
    product = Product(**{name: values.get(name) for name in PRODUCT_FIELDS})
    db.session.add(product)
    db.session.flush()
    return product


@unit_of_work
def update_product(*, product_id: int, user: User, values: dict[str, Any]) -> Product:
    """Change a product's fields; commits."""
    permissions.require(user, "product.manage")
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound("产品不存在")
    merged = {name: values.get(name, getattr(product, name)) for name in PRODUCT_FIELDS}
    _check_product(merged, product.id)
    for name in PRODUCT_FIELDS:
        setattr(product, name, merged[name])
    return product


@unit_of_work
def create_warehouse(*, user: User, name: str, address: str | None = None) -> Warehouse:
    """Add a warehouse (name unique); commits."""
    permissions.require(user, "product.manage")
    name = (name or "").strip()
    if not name:
        raise Invalid("请更正标出的字段", {"name": ["请填写仓库名称"]})
    if db.session.scalar(select(Warehouse.id).where(Warehouse.name == name)) is not None:
        raise Invalid("请更正标出的字段", {"name": ["仓库名称已存在"]})
    warehouse = Warehouse(name=name, address=(address or "").strip() or None)
    db.session.add(warehouse)
    db.session.flush()
    return warehouse


@unit_of_work
def set_stock(*, user: User, product_id: int, warehouse_id: int, quantity: int) -> InventoryItem:
    """Set the stock of a product in a warehouse (≥ 0); commits."""
    permissions.require(user, "product.manage")
    if quantity < 0:
        raise Invalid("请更正标出的字段", {"quantity": ["库存数量不能为负数"]})
    if db.session.get(Product, product_id) is None:
        raise NotFound("产品不存在")
    if db.session.get(Warehouse, warehouse_id) is None:
        raise Invalid("请更正标出的字段", {"warehouse_id": ["请选择一个仓库"]})
    item = db.session.scalar(select(InventoryItem).where(InventoryItem.product_id == product_id,
                                                         InventoryItem.warehouse_id == warehouse_id))
    if item is None:
        item = InventoryItem(product_id=product_id, warehouse_id=warehouse_id, quantity=quantity)
        db.session.add(item)
    else:
        item.quantity = quantity
    db.session.flush()
    return item
