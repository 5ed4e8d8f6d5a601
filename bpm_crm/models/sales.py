"""What the company sells: products, warehouses and stock, orders (read through the sales adapter), quotes."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import NEVER_REUSE_IDS, utcnow
from bpm_crm.models.crm import Audited, Contact, Customer
from bpm_crm.models.people import User


class OrderStatus(enum.IntEnum):
    """Order states of the sales system; the CRM shows 5 and 6 as history."""

    NEW = 1
    APPROVED = 2
    PREPARING = 3
    PARTLY_SHIPPED = 4
    SHIPPED = 5
    PAID = 6


ORDER_STATUS_LABELS = {1: "新建", 2: "已审核", 3: "备货中", 4: "部分发货", 5: "已发货", 6: "已回款"}
HISTORY_STATUSES = (OrderStatus.SHIPPED.value, OrderStatus.PAID.value)


class QuoteStatus(enum.StrEnum):
    DRAFT = "草稿"
    PENDING = "审批中"
    APPROVED = "已批准"
    REJECTED = "已驳回"


class Product(Model):
    """A product of the sales system (产品)."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120), index=True)
    model: Mapped[str | None] = mapped_column(String(60), index=True)  # 型号
    batch: Mapped[str | None] = mapped_column(String(40), index=True)  # 批次
    unit: Mapped[str | None] = mapped_column(String(10))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    remarks: Mapped[str | None] = mapped_column(Text)


class Warehouse(Model):
    """A warehouse of the sales system (仓库)."""

    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    address: Mapped[str | None] = mapped_column(String(200))


class InventoryItem(Model):
    """Stock of one product in one warehouse (库存)."""

    __tablename__ = "inventory"
    __table_args__ = (UniqueConstraint("product_id", "warehouse_id"), Index("ix_inventory_warehouse", "warehouse_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship()
    warehouse: Mapped[Warehouse] = relationship()


class Order(Model):
    """An order of the sales system (订单); the built-in sales adapter keeps them here."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_status_date", "customer_id", "status", "order_date"),
        Index("ix_orders_date", "order_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    order_date: Mapped[date] = mapped_column(Date)
    status: Mapped[int]  # OrderStatus
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    address: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(Model):
    """One product on an order (订单明细)."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    order: Mapped[Order] = relationship(back_populates="lines")


class Quote(Audited, Model):
    """A quote to a customer (报价); lines are edited while it is a draft."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_customer", "customer_id"), Index("ix_quotes_status", "status"),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    name: Mapped[str] = mapped_column(String(120))
    quote_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=QuoteStatus.DRAFT.value)
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    remarks: Mapped[str | None] = mapped_column(Text)
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))

    customer: Mapped[Customer] = relationship()
    contact: Mapped[Contact | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys="Quote.created_by_id")
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", order_by="QuoteLine.id"
    )


class QuoteLine(Model):
    """One product on a quote: quantity × unit price less the discount (percent off)."""

    __tablename__ = "quote_lines"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))

    quote: Mapped[Quote] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()
