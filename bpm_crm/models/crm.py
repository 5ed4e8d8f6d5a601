"""CRM records: customers with their contacts, interactions, shares and transfers; opportunities and plans."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import NEVER_REUSE_IDS, utcnow
from bpm_crm.models.people import User


class OpportunityStatus(enum.StrEnum):
    UNASSIGNED = "未指派"
    ASSIGNED = "已指派"
    SUCCEEDED = "开发成功"
    FAILED = "开发失败"


class CustomerStatus(enum.StrEnum):
    NORMAL = "正常"
    LOST = "已流失"


class Audited:
    """created_by/at and updated_by/at, kept on every record."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CustomerLevel(enum.StrEnum):
    NORMAL = "普通"
    KEY = "重点"
    VIP = "VIP"


class Customer(Audited, Model):
    """A customer (客户); `owner` is its account manager, no owner means it sits in the public pool (公海)."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_owner_status", "owner_id", "status"),
        Index("ix_customers_region", "region"),
        Index("ix_customers_level", "level"),
        Index("ix_customers_phone", "phone"),
        Index("ix_customers_tax_no", "tax_no"),
        Index("ix_customers_created", "created_at", "id"),  # the lists' default order, newest first
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    short_name: Mapped[str | None] = mapped_column(String(60))
    region: Mapped[str | None] = mapped_column(String(60))  # dictionary path, e.g. "浙江省/杭州市"
    industry: Mapped[str | None] = mapped_column(String(60))
    source: Mapped[str | None] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(20), default=CustomerLevel.NORMAL.value)
    satisfaction: Mapped[int | None]  # 1-5
    credit: Mapped[int | None]  # 1-5
    contact_name: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(40))
    fax: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    licence_no: Mapped[str | None] = mapped_column(String(40))
    legal_representative: Mapped[str | None] = mapped_column(String(60))
    registered_capital: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    annual_turnover: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    bank: Mapped[str | None] = mapped_column(String(120))
    bank_account: Mapped[str | None] = mapped_column(String(60))
    tax_no: Mapped[str | None] = mapped_column(String(40))
    remarks: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=CustomerStatus.NORMAL.value)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), unique=True)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    opportunity: Mapped[Opportunity | None] = relationship(foreign_keys=[opportunity_id])


class CustomerShare(Model):
    """Read-only access to a customer for one more user (客户共享)."""

    __tablename__ = "customer_shares"
    __table_args__ = (UniqueConstraint("customer_id", "user_id"), Index("ix_customer_shares_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CustomerTransfer(Model):
    """One change of a customer's owner: claim from the pool, transfer, release to the pool (客户转移)."""

    __tablename__ = "customer_transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # claim / transfer / release
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    from_user: Mapped[User | None] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id])
    by_user: Mapped[User | None] = relationship(foreign_keys=[by_user_id])


class Contact(Audited, Model):
    """A person at a customer (联系人)."""

    __tablename__ = "contacts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    gender: Mapped[str] = mapped_column(String(4))  # 男 / 女
    position: Mapped[str] = mapped_column(String(60))
    office_phone: Mapped[str] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(120))
    birthday: Mapped[date | None] = mapped_column(Date)
    # A birthday kept in the lunar calendar ("08-15": the 15th of the 8th month), celebrated on its solar day each year.
    lunar_birthday: Mapped[str | None] = mapped_column(String(5))
    remarks: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()


class Interaction(Audited, Model):
    """A meeting, call or visit with a customer (交往记录)."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_date", "customer_id", "date"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    date: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys="Interaction.created_by_id")


class Opportunity(Audited, Model):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_status_created", "status", "created_at"),
        Index("ix_opportunities_assignee", "assignee_id"),
        Index("ix_opportunities_creator", "created_by_id"), NEVER_REUSE_IDS
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    source: Mapped[str | None] = mapped_column(String(60))
    customer_name: Mapped[str] = mapped_column(String(120))
    probability: Mapped[int]
    summary: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=OpportunityStatus.UNASSIGNED.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))

    created_by: Mapped[User | None] = relationship(foreign_keys="Opportunity.created_by_id")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    plan_items: Mapped[list[PlanItem]] = relationship(
        back_populates="opportunity", cascade="all, delete-orphan", order_by="PlanItem.date, PlanItem.id"
    )
    customer: Mapped[Customer | None] = relationship(
        foreign_keys="Customer.opportunity_id", viewonly=True, uselist=False
    )


class PlanItem(Model):
    """One step of a customer development plan (开发计划项)."""

    __tablename__ = "plan_items"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    date: Mapped[date] = mapped_column(Date)
    content: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="plan_items")
