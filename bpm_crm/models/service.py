"""After-sales records: service requests (客户服务), churn warnings (流失预警) and care tasks (客户关怀)."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import NEVER_REUSE_IDS, utcnow
from bpm_crm.models.crm import Audited, Contact, Customer
from bpm_crm.models.people import Department, User


class ServiceStatus(enum.StrEnum):
    NEW = "新创建"
    ASSIGNED = "已分配"
    HANDLED = "已处理"
    FEEDBACK = "已反馈"
    ARCHIVED = "已归档"


class ChurnStatus(enum.StrEnum):
    WARNING = "预警"
    DEFERRED = "暂缓流失"
    CONFIRMED = "确认流失"
    RECOVERED = "已恢复"


class ServiceRequest(Audited, Model):
    """A customer's consultation, suggestion or complaint (客户服务)."""

    __tablename__ = "service_requests"
    __table_args__ = (
        Index("ix_service_requests_customer", "customer_id"),
        Index("ix_service_requests_status", "status"),
        Index("ix_service_requests_handler", "handler_id"), NEVER_REUSE_IDS
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    type: Mapped[str] = mapped_column(String(20))  # dictionary 服务类型: 咨询 / 建议 / 投诉
    summary: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=ServiceStatus.NEW.value)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None]
    handling: Mapped[str | None] = mapped_column(Text)
    handled_at: Mapped[datetime | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None]  # 1-5
    feedback_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    # Service levels (naive UTC, working time on the Chinese calendar): the targets set when it was recorded,
    # and how long accepting it (响应时效) and closing it (办结时效) took, in working seconds.
    response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    response_seconds: Mapped[int | None]
    resolution_seconds: Mapped[int | None]
    # A complaint's decision (扣款): what the customer is compensated, what is deducted and who bears it.
    compensation_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    deduction_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    deduction_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # How often a poor return visit sent it back to handling.
    reopened: Mapped[int] = mapped_column(default=0, server_default="0")
    # 简易工单: the agent answered it on the call and closed it (坐席受理 → 处理完毕); else a 疑难工单, dispatched
    # and visited (坐席受理 → 处理中 → 处理完毕待回访 → 回访完毕). Fixed when it is recorded.
    simple: Mapped[bool] = mapped_column(default=False, server_default=false())

    customer: Mapped[Customer] = relationship()
    handler: Mapped[User | None] = relationship(foreign_keys=[handler_id])
    created_by: Mapped[User | None] = relationship(foreign_keys="ServiceRequest.created_by_id")
    deduction_department: Mapped[Department | None] = relationship()


OPEN_CHURN_CONDITION = "status IN ('预警', '暂缓流失')"


class ChurnWarning(Audited, Model):
    """A customer who has stopped ordering (流失预警), with the measures taken."""

    __tablename__ = "churn_warnings"
    __table_args__ = (Index("ix_churn_warnings_customer", "customer_id"), Index("ix_churn_warnings_status", "status"),
                      # One open warning per customer, whoever raises it (the weekly scan, a person, both at once).
                      Index("uq_churn_warnings_open_customer", "customer_id", unique=True,
                            postgresql_where=text(OPEN_CHURN_CONDITION), sqlite_where=text(OPEN_CHURN_CONDITION)),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_order_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=ChurnStatus.WARNING.value)
    closed_at: Mapped[datetime | None]
    # What closed it as 已恢复: "order" (an order reached the CRM: the import or the sales system's report),
    # "scan" (the weekly scan found a newer order; set when found, so that run's figures count it), "manual".
    closed_by: Mapped[str | None] = mapped_column(String(10))
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))

    customer: Mapped[Customer] = relationship()
    manager: Mapped[User | None] = relationship(foreign_keys=[manager_id])
    measures: Mapped[list[ChurnMeasure]] = relationship(
        back_populates="warning", cascade="all, delete-orphan", order_by="ChurnMeasure.id"
    )


class ChurnMeasure(Model):
    """One measure against a churn (暂缓措施); measures are appended, never edited."""

    __tablename__ = "churn_measures"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("churn_warnings.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    warning: Mapped[ChurnWarning] = relationship(back_populates="measures")
    author: Mapped[User | None] = relationship()


class CareTask(Audited, Model):
    """A reminder to care for a customer or contact (客户关怀): birthday, festival, follow-up."""

    __tablename__ = "care_tasks"
    __table_args__ = (Index("ix_care_tasks_customer", "customer_id"), Index("ix_care_tasks_due", "due_date"),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(20))  # 生日 / 节日 / 售后回访 / 自定义
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # The care rule that made it (none: planned by hand); its occurrence is kept in care_occurrences.
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("care_rules.id", ondelete="SET NULL"))
    # Its process (客户关怀): the task in the assignee's inbox.
    process_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))

    customer: Mapped[Customer] = relationship()
    contact: Mapped[Contact | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
