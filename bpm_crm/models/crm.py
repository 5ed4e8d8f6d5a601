"""CRM records: customers, opportunities and their development plans."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import utcnow
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


class Customer(Audited, Model):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_owner_status", "owner_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    short_name: Mapped[str | None] = mapped_column(String(60))
    region: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    source: Mapped[str | None] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(20), default="普通")
    contact_name: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=CustomerStatus.NORMAL.value)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), unique=True)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    opportunity: Mapped[Opportunity | None] = relationship(foreign_keys=[opportunity_id])


class Opportunity(Audited, Model):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_status_created", "status", "created_at"),
        Index("ix_opportunities_assignee", "assignee_id"),
        Index("ix_opportunities_creator", "created_by_id"),
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

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    date: Mapped[date] = mapped_column(Date)
    content: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="plan_items")
