"""Orders (订单): a customer's history (已发货/已回款), one order, and the order import (preview, commit)."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import fields_of, json_object, paging
from bpm_crm.api.openapi import BOOL, INT, N_INT, N_STR, PAGING, STR, obj, operation, page_of, path_id
from bpm_crm.api.products import MONEY
from bpm_crm.error_messages import translate
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.models import ORDER_STATUS_LABELS, Order
from bpm_crm.services import order_import, sales
from bpm_crm.services.order_import import Preview


def order(record: Order) -> dict[str, Any]:
    return {
        "id": record.id, "number": record.number, "customer_id": record.customer_id,
        "order_date": record.order_date.isoformat(), "status": record.status,
        "status_label": ORDER_STATUS_LABELS.get(record.status, str(record.status)),
        "total": schemas.money(record.total),
        "address": record.address,
        "lines": [{"id": line.id, "product_id": line.product_id, "product_name": line.product_name,
                   "quantity": line.quantity, "unit_price": schemas.money(line.unit_price),
                   "amount": schemas.money(line.amount)}
                  for line in record.lines],
    }


def preview(result: Preview) -> dict[str, Any]:
    return {"job_id": result.job_id, "filename": result.filename, "status": result.status,
            "rows": len(result.rows), "orders": result.orders, "lines": result.lines, "ok": result.ok,
            "errors": [{"row": row.row, "messages": [translate(message) for message in row.errors]}
                       for row in result.error_rows]}


@bp.get("/customers/<id:customer_id>/orders")
def list_customer_orders(customer_id: int) -> Response:
    """A visible customer's shipped and paid orders, newest first, with lines and totals."""
    page, per_page = paging()
    result = sales.customer_orders(customer_id=customer_id, user=current_user(), page=page, per_page=per_page)
    return jsonify(schemas.page(result, order))


@bp.get("/orders/<id:order_id>")
def get_order(order_id: int) -> Response:
    """One order whose customer is visible to the caller."""
    return jsonify(order(sales.get_order(order_id=order_id, user=current_user())))


@bp.post("/orders/imports")
def upload_order_import() -> tuple[Response, int, dict[str, str]]:
    """Upload an .xlsx/.csv of order lines; answers the check of every row, writes no order."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        message = str(_("请选择要上传的文件"))
        raise Invalid(message, {"file": [message]})
    result = order_import.upload(user=current_user(), data=upload.read(), filename=upload.filename)
    return jsonify(preview(result)), 201, {"Location": url_for("api.get_order_import", job_id=result.job_id)}


@bp.get("/orders/imports/<id:job_id>")
def get_order_import(job_id: int) -> Response:
    """The check of an uploaded file, done again now."""
    return jsonify(preview(order_import.preview(user=current_user(), job_id=job_id)))


@bp.post("/orders/imports/<id:job_id>/commit")
def commit_order_import(job_id: int) -> Response:
    """Write every order of the file, or none (422 with the rows' errors); then apply the level rules."""
    result = order_import.commit(user=current_user(), job_id=job_id)
    return jsonify({"job_id": result.job_id, "orders": result.orders, "lines": result.lines,
                    "customers": result.customers, "levels_changed": result.levels_changed})


@bp.post("/orders/placed")
def report_placed_orders() -> Response:
    """The sales system reports orders placed: recorded all or none (numbers reported before are left alone);
    the customers' levels follow and their open churn warnings close through their processes."""
    payload = fields_of(json_object(), ("orders",))
    result = sales.report_orders(user=current_user(), orders=payload.get("orders"))
    return jsonify({"recorded": result.recorded, "known": result.known, "customers": result.customers,
                    "levels_changed": result.levels_changed, "warnings_closed": result.warnings_closed})


JOB = [path_id("job_id")]
openapi.SCHEMAS.update({
    "OrderLine": obj({"id": INT, "product_id": N_INT, "product_name": STR, "quantity": INT, "unit_price": MONEY,
                      "amount": MONEY}),
    "Order": obj({"id": INT, "number": STR, "customer_id": INT, "order_date": {"type": "string", "format": "date"},
                  "status": {"enum": list(ORDER_STATUS_LABELS)},
                  "status_label": {"enum": list(ORDER_STATUS_LABELS.values())}, "total": MONEY,
                  "address": N_STR, "lines": {"type": "array", "items": openapi.ref("OrderLine")}}),
    "OrderPage": page_of("Order"),
    "OrderImportUpload": obj({"file": {"type": "string", "contentMediaType": "application/octet-stream",
                                       "description": ".xlsx or .csv; headers 订单号, 客户编号/客户名称, 下单日期, "
                                                      "状态, 产品名称/产品编码, 数量, 单价 (收货地址 optional)"}}),
    "OrderImportPreview": obj({
        "job_id": INT, "filename": STR, "status": {"enum": ["uploaded", "committed"]}, "rows": INT, "orders": INT,
        "lines": INT, "ok": BOOL,
        "errors": {"type": "array", "items": obj({"row": {**INT, "description": "Row number in the file"},
                                                  "messages": {"type": "array", "items": STR}})}}),
    "OrderImportResult": obj({"job_id": INT, "orders": INT, "lines": INT, "customers": INT, "levels_changed": INT}),
    "PlacedOrderLine": obj({"product_code": STR, "product_name": STR, "quantity": {"type": "integer", "minimum": 1},
                            "unit_price": {"type": ["string", "number"], "description": "Yuan, e.g. \"1200.00\""}},
                           ["quantity", "unit_price"], description="product_code or product_name"),
    "PlacedOrder": obj({
        "number": {"type": "string", "maxLength": 30}, "customer_number": STR, "customer_name": STR,
        "order_date": {"type": "string", "format": "date"},
        "status": {"oneOf": [{"enum": list(ORDER_STATUS_LABELS)}, {"enum": list(ORDER_STATUS_LABELS.values())}]},
        "address": {"type": "string", "maxLength": 200},
        "lines": {"type": "array", "minItems": 1, "maxItems": order_import.MAX_REPORTED_LINES,
                  "items": openapi.ref("PlacedOrderLine")}},
        ["number", "order_date", "status", "lines"], description="customer_number or customer_name"),
    "PlacedOrders": obj({"orders": {"type": "array", "minItems": 1, "maxItems": order_import.MAX_REPORTED_ORDERS,
                                    "items": openapi.ref("PlacedOrder")}}),
    "PlacedOrdersResult": obj({
        "recorded": {"type": "array", "items": STR, "description": "Numbers of the orders recorded now"},
        "known": {"type": "array", "items": STR, "description": "Numbers reported before, left as they are"},
        "customers": INT, "levels_changed": INT,
        "warnings_closed": {**INT, "description": "Open churn warnings closed: the customer ordered again"}}),
})
openapi.PATHS.update({
    "/customers/{customer_id}/orders": {"get": operation(
        "listCustomerOrders", "A customer's 已发货/已回款 orders, newest first, with lines", "orders",
        openapi.responses("200", "OrderPage", "401", "404", "422"), params=[path_id("customer_id"), *PAGING])},
    "/orders/{order_id}": {"get": operation(
        "getOrder", "One order with its lines", "orders", openapi.responses("200", "Order", "401", "404"),
        params=[path_id("order_id")])},
    "/orders/imports": {"post": {
        **operation("uploadOrderImport", "Upload order lines; every row is checked, nothing is written", "orders",
                    openapi.responses("201", "OrderImportPreview", "401", "403", "422", headers={
                        "Location": {"schema": STR, "description": "URL of the import job"}})),
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": openapi.ref("OrderImportUpload")}}}}},
    "/orders/imports/{job_id}": {"get": operation(
        "getOrderImport", "The check of an uploaded file, again", "orders",
        openapi.responses("200", "OrderImportPreview", "401", "403", "404"), params=JOB)},
    "/orders/placed": {"post": operation(
        "reportPlacedOrders", "The sales system reports orders placed (all or none); churn warnings close",
        "orders", openapi.responses("200", "PlacedOrdersResult", "400", "401", "403", "409", "422"),
        body="PlacedOrders")},
    "/orders/imports/{job_id}/commit": {"post": operation(
        "commitOrderImport", "Write all orders of the file or none; then apply the level rules", "orders",
        openapi.responses("200", "OrderImportResult", "401", "403", "404", "409", "422"), params=JOB)},
})
