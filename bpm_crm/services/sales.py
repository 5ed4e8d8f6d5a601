"""The sales-system adapter: products, stock and a customer's order history, read from the company's sales system.

The CRM never owns this data. `sales_system()` returns the configured adapter (config key SALES_SYSTEM); the
built-in one reads the CRM's own tables, filled by maintenance pages and the order import, so the embedded
default works without a sales system. Scopes are the CRM's: an order is visible when its customer is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import NotFound
from bpm_crm.extensions import db
from bpm_crm.models import HISTORY_STATUSES, Customer, InventoryItem, Order, Product, User, Warehouse
from bpm_crm.services import order_import, permissions
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work


@dataclass(frozen=True)
class ProductStock:
    """A product as listed: the product and its stock summed over every warehouse."""

    product: Product
    stock: int


class SalesSystem(Protocol):
    """What the CRM reads from a sales system; ids are the sales system's own."""

    def search_products(self, *, q: str | None, model: str | None, batch: str | None, page: int,
                        per_page: int) -> Page:
        """Products matching name/code, model and batch, as a Page of ProductStock."""

    def get_product(self, *, product_id: int) -> Product | None:
        """One product, or None."""

    def stock_of(self, *, product_id: int) -> list[InventoryItem]:
        """A product's stock per warehouse (warehouse loaded)."""

    def inventory(self, *, product_id: int | None, warehouse_id: int | None, page: int, per_page: int) -> Page:
        """Stock rows (product and warehouse loaded), filtered by product and/or warehouse."""

    def warehouses(self) -> list[Warehouse]:
        """Every warehouse, by name."""

    def customer_orders(self, *, customer_id: int, page: int, per_page: int) -> Page:
        """A customer's shipped or paid orders (已发货/已回款), newest first, lines loaded."""

    def get_order(self, *, order_id: int) -> Order | None:
        """One order with its lines, or None."""

    def record_orders(self, *, user: User, orders: list[dict[str, Any]]) -> tuple[list[Order], list[str]]:
        """Keep orders the sales system reports as placed where the CRM reads them (the churn scan and the level
        rules read the CRM's order table): (orders new to the CRM, numbers it kept already). Joins the transaction."""


class BuiltinSalesSystem:
    """The sales system kept in the CRM's own tables (products, warehouses, inventory, orders)."""

    def search_products(self, *, q: str | None, model: str | None, batch: str | None, page: int,
                        per_page: int) -> Page:
        query = select(Product)
        if q:
            like = f"%{q}%"
            query = query.where(or_(Product.name.ilike(like), Product.code.ilike(like)))
        if model:
            query = query.where(Product.model.ilike(f"%{model}%"))
        if batch:
            query = query.where(Product.batch.ilike(f"%{batch}%"))
        result = paginate(query.order_by(Product.name, Product.id), page=page, per_page=per_page)
        ids = [product.id for product in result.items]
        stock = dict(db.session.execute(
            select(InventoryItem.product_id, func.coalesce(func.sum(InventoryItem.quantity), 0))
            .where(InventoryItem.product_id.in_(ids)).group_by(InventoryItem.product_id)).all()) if ids else {}
        items = [ProductStock(product=product, stock=int(stock.get(product.id, 0))) for product in result.items]
        return Page(items=items, total=result.total, page=result.page, per_page=result.per_page)

    def get_product(self, *, product_id: int) -> Product | None:
        return db.session.get(Product, product_id)

    def stock_of(self, *, product_id: int) -> list[InventoryItem]:
        return list(db.session.scalars(
            select(InventoryItem).join(Warehouse).where(InventoryItem.product_id == product_id)
            .options(selectinload(InventoryItem.warehouse)).order_by(Warehouse.name)))

    def inventory(self, *, product_id: int | None, warehouse_id: int | None, page: int, per_page: int) -> Page:
        query = select(InventoryItem).join(Product).join(Warehouse).options(
            selectinload(InventoryItem.product), selectinload(InventoryItem.warehouse))
        if product_id is not None:
            query = query.where(InventoryItem.product_id == product_id)
        if warehouse_id is not None:
            query = query.where(InventoryItem.warehouse_id == warehouse_id)
        return paginate(query.order_by(Product.name, Warehouse.name, InventoryItem.id), page=page, per_page=per_page)

    def warehouses(self) -> list[Warehouse]:
        return list(db.session.scalars(select(Warehouse).order_by(Warehouse.name)))

    def customer_orders(self, *, customer_id: int, page: int, per_page: int) -> Page:
        query = (select(Order).where(Order.customer_id == customer_id, Order.status.in_(HISTORY_STATUSES))
                 .options(selectinload(Order.lines)).order_by(Order.order_date.desc(), Order.id.desc()))
        return paginate(query, page=page, per_page=per_page)

    def get_order(self, *, order_id: int) -> Order | None:
        return db.session.scalar(select(Order).where(Order.id == order_id).options(
            selectinload(Order.lines), selectinload(Order.customer)))

    def record_orders(self, *, user: User, orders: list[dict[str, Any]]) -> tuple[list[Order], list[str]]:
        # The same rows and rules as the order import: a reported order is an import of one order's lines.
        return order_import.record_reported(user=user, orders=orders)


# Adapters by the name the SALES_SYSTEM setting uses; an integration registers its own here.
SALES_SYSTEMS: dict[str, type] = {"builtin": BuiltinSalesSystem}


def sales_system() -> SalesSystem:
    """The adapter the configuration names (SALES_SYSTEM, default "builtin")."""
    name = current_app.config.get("SALES_SYSTEM", "builtin")
    adapter = SALES_SYSTEMS.get(name)
    if adapter is None:
        raise RuntimeError(f"Unknown SALES_SYSTEM {name!r}; known: {', '.join(SALES_SYSTEMS)}")
    system: SalesSystem = adapter()
    return system


def search_products(*, user: User, q: str | None = None, model: str | None = None, batch: str | None = None,
                    page: int = 1, per_page: int = 20) -> Page:
    """Products by name or code, model and batch, with their total stock (Page of ProductStock)."""
    permissions.require(user, "product.read")
    return sales_system().search_products(q=_clean(q), model=_clean(model), batch=_clean(batch), page=page,
                                          per_page=per_page)


def get_product(*, product_id: int, user: User) -> Product:
    """One product; NotFound if it does not exist."""
    permissions.require(user, "product.read")
    product = sales_system().get_product(product_id=product_id)
    if product is None:
        raise NotFound("产品不存在")
    return product


def product_stock(*, product_id: int, user: User) -> list[InventoryItem]:
    """A product's stock in each warehouse."""
    permissions.require(user, "product.read")
    return sales_system().stock_of(product_id=product_id)


def inventory(*, user: User, product_id: int | None = None, warehouse_id: int | None = None, page: int = 1,
              per_page: int = 20) -> Page:
    """Stock by product and/or warehouse (Page of InventoryItem)."""
    permissions.require(user, "product.read")
    return sales_system().inventory(product_id=product_id, warehouse_id=warehouse_id, page=page, per_page=per_page)


def list_warehouses(*, user: User) -> list[Warehouse]:
    """Every warehouse of the sales system."""
    permissions.require(user, "product.read")
    return sales_system().warehouses()


def order_customer(*, customer_id: int, user: User) -> Customer:
    """The customer whose orders the user wants to read; NotFound outside his scope or without order.read."""
    if permissions.can(user, "order.read"):
        customer = db.session.scalar(
            select(Customer).where(Customer.id == customer_id, permissions.customer_clause(user, "customer.read")))
        if customer is not None:
            return customer
    raise NotFound("客户不存在或您无权查看")


def customer_orders(*, customer_id: int, user: User, page: int = 1, per_page: int = 20) -> Page:
    """A visible customer's 已发货/已回款 orders, newest first, each with its lines and total."""
    order_customer(customer_id=customer_id, user=user)
    return sales_system().customer_orders(customer_id=customer_id, page=page, per_page=per_page)


def get_order(*, order_id: int, user: User) -> Order:
    """One order with its lines, if its customer is visible to the user; NotFound otherwise."""
    order = sales_system().get_order(order_id=order_id) if permissions.can(user, "order.read") else None
    # The sales system knows nothing of CRM scopes: the order is as visible as its customer.
    if order is None or not permissions.customer_in_scope(user, order.customer_id):
        raise NotFound("订单不存在或您无权查看")
    return order


@dataclass(frozen=True)
class ReportedOrders:
    """What a sales system's report of placed orders changed."""

    recorded: list[str]  # order numbers new to the CRM
    known: list[str]  # numbers reported before (a report delivered twice changes nothing)
    customers: int
    levels_changed: int
    warnings_closed: int


@unit_of_work
def report_orders(*, user: User, orders: list[dict[str, Any]]) -> ReportedOrders:
    """The sales system reports orders placed (its call of POST /api/v1/orders/placed): the adapter records them,
    the customers' levels follow, and a customer who orders again has his open churn warning closed — its process
    catches `order_placed`, as after an order import. All or nothing; commits."""
    permissions.require(user, "order.import")
    new, known = sales_system().record_orders(user=user, orders=orders)
    customer_ids = {order.customer_id for order in new}
    followed = order_import.after_new_orders(customer_ids=customer_ids, user=user)
    return ReportedOrders(recorded=[order.number for order in new], known=known, customers=len(customer_ids),
                          levels_changed=followed.levels_changed, warnings_closed=followed.warnings_closed)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()[:100]
    return text or None

