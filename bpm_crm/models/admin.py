"""Administration: data dictionary, level rules, attachments, audit and login logs, recycle bin, imports."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import NEVER_REUSE_IDS, utcnow
from bpm_crm.models.people import User


class DictionaryEntry(Model):
    """One choice of a dictionary type (数据字典), e.g. type 客户等级, item VIP; regions nest by parent."""

    __tablename__ = "dictionary_entries"
    __table_args__ = (UniqueConstraint("type", "parent_id", "item"), Index("ix_dictionary_type", "type", "sort"))

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    item: Mapped[str] = mapped_column(String(60))
    value: Mapped[str | None] = mapped_column(String(120))
    # The item as English readers see it; the stored value everywhere stays `item`.
    label_en: Mapped[str | None] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("dictionary_entries.id"))
    sort: Mapped[int] = mapped_column(default=0)
    editable: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[DictionaryEntry | None] = relationship(remote_side=[id])


class LevelRule(Model):
    """Promote a customer to `level` when his order total over the last `months` reaches `min_total`."""

    __tablename__ = "level_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    min_total: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    months: Mapped[int] = mapped_column(default=12)
    active: Mapped[bool] = mapped_column(default=True)


class Attachment(Model):
    """A file attached to a record (customer, quote …); the bytes live in the attachment store."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_record", "record_type", "record_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()


class AuditLog(Model):
    """Who created, changed or deleted which record, with each changed field's old and new value."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_record", "record_type", "record_id"), Index("ix_audit_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(20))  # create / update / delete / restore
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # field -> [old, new]

    user: Mapped[User | None] = relationship()


class LoginEvent(Model):
    """A sign-in attempt, successful or not (登录日志)."""

    __tablename__ = "login_events"
    # The two composite indexes serve sign-in throttling: recent failures per user name and per address.
    __table_args__ = (Index("ix_login_events_at", "at"), Index("ix_login_events_username_at", "username", "at"),
                      Index("ix_login_events_ip_at", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(60))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    success: Mapped[bool]
    channel: Mapped[str] = mapped_column(String(10))  # web / api
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(60))


class RecycleBinEntry(Model):
    """A deleted record with its dependants, serialized so that it can be restored intact (回收站)."""

    __tablename__ = "recycle_bin"
    __table_args__ = (Index("ix_recycle_bin_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    label: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    deleted_by: Mapped[User | None] = relationship(foreign_keys=[deleted_by_id])


class ImportJob(Model):
    """An uploaded spreadsheet between preview and commit: its rows, the mapping, the duplicate rule."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # customers / contacts / orders
    filename: Mapped[str] = mapped_column(String(255))
    headers: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[list[list[str]]] = mapped_column(JSON)
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # column header -> field
    duplicate_rule: Mapped[str | None] = mapped_column(String(20))  # name / phone / tax_no
    status: Mapped[str] = mapped_column(String(20), default="uploaded")  # uploaded / committed
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
