"""Products and stock (产品、库存) from the sales system: search, detail with stock per warehouse, inventory."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import id_arg, paging, text_arg
from bpm_crm.api.openapi import INT, N_STR, PAGING, SEARCH, STR, TIME, obj, operation, page_of, path_id, query, ref
from bpm_crm.models import InventoryItem, Product
from bpm_crm.services import sales
from bpm_crm.services.sales import ProductStock


def product(record: Product) -> dict[str, Any]:
    return {"id": record.id, "code": record.code, "name": record.name, "model": record.model, "batch": record.batch,
            "unit": record.unit, "price": schemas.money(record.price), "remarks": record.remarks}


def product_with_stock(row: ProductStock) -> dict[str, Any]:
    return {**product(row.product), "stock": row.stock}


def inventory_item(item: InventoryItem) -> dict[str, Any]:
    return {"product": {"id": item.product.id, "code": item.product.code, "name": item.product.name},
            "warehouse": {"id": item.warehouse.id, "name": item.warehouse.name}, "quantity": item.quantity,
            "updated_at": schemas.timestamp(item.updated_at)}


@bp.get("/products")
def list_products() -> Response:
    """Products by name or code (q), model and batch, with their total stock."""
    page, per_page = paging()
    result = sales.search_products(user=current_user(), q=text_arg("q"), model=text_arg("model"),
                                   batch=text_arg("batch"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, product_with_stock))


@bp.get("/products/<id:product_id>")
def get_product(product_id: int) -> Response:
    """One product with its stock in each warehouse."""
    user = current_user()
    record = sales.get_product(product_id=product_id, user=user)
    stock = sales.product_stock(product_id=product_id, user=user)
    return jsonify({**product(record), "stock": sum(i.quantity for i in stock),
                    "inventory": [inventory_item(i) for i in stock]})


@bp.get("/inventory")
def list_inventory() -> Response:
    """Stock rows, filtered by product and/or warehouse."""
    page, per_page = paging()
    result = sales.inventory(user=current_user(), product_id=id_arg("product_id"),
                             warehouse_id=id_arg("warehouse_id"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, inventory_item))


MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1200.00"]}
PRODUCT = {"id": INT, "code": STR, "name": STR, "model": N_STR, "batch": N_STR, "unit": N_STR, "price": MONEY,
           "remarks": N_STR}
openapi.SCHEMAS.update({
    "Product": obj({**PRODUCT, "stock": {**INT, "description": "Stock over every warehouse"}}),
    "ProductPage": page_of("Product"),
    "InventoryItem": obj({"product": obj({"id": INT, "code": STR, "name": STR}),
                          "warehouse": obj({"id": INT, "name": STR}), "quantity": INT, "updated_at": TIME}),
    "InventoryPage": page_of("InventoryItem"),
    "ProductDetail": {"allOf": [ref("Product"), obj({"inventory": {"type": "array", "items": ref("InventoryItem")}})]},
})
openapi.PATHS.update({
    "/products": {"get": operation(
        "listProducts", "Products by name/code, model and batch, with total stock", "products",
        openapi.responses("200", "ProductPage", "401", "403", "422"),
        params=[SEARCH, query("model", STR, "Model (型号) contains"), query("batch", STR, "Batch (批次) contains"),
                *PAGING])},
    "/products/{product_id}": {"get": operation(
        "getProduct", "One product with its stock per warehouse", "products",
        openapi.responses("200", "ProductDetail", "401", "403", "404"), params=[path_id("product_id")])},
    "/inventory": {"get": operation(
        "listInventory", "Stock by product and/or warehouse", "products",
        openapi.responses("200", "InventoryPage", "401", "403", "422"),
        params=[query("product_id", INT), query("warehouse_id", INT), *PAGING])},
})
