"""People: departments, roles with their permissions, users and API tokens."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from bpm_crm.extensions import Model
from bpm_crm.models.base import utcnow

user_roles = Table(
    "user_roles",
    Model.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Model):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    head_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class Role(Model):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    permissions: Mapped[list[RolePermission]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )


class RolePermission(Model):
    """A role may do `action` on records within `scope` (own/subordinates/department/all)."""

    __tablename__ = "role_permissions"
    __table_args__ = (UniqueConstraint("role_id", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(60))
    scope: Mapped[str] = mapped_column(String(20))
    role: Mapped[Role] = relationship(back_populates="permissions")


class OrgRevision(Model):
    """One row whose number changes with every change to departments, roles, their permissions, who holds
    them, or a person's superior, department or status: database triggers set it to a new random number
    (migration 9e5a1c2b7d83; a migration rebuilding one of those tables on SQLite must create its
    triggers again). Processes keep the organisation they read per number (services.permissions).
    """

    __tablename__ = "org_revision"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


def new_session_stamp() -> str:
    """A fresh random session stamp."""
    return secrets.token_hex(16)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    full_name: Mapped[str] = mapped_column(String(60))
    email: Mapped[str | None] = mapped_column(String(120))
    # For text messages (转办 by SMS through the webhook channel).
    mobile: Mapped[str | None] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    superior_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every session and remember-me cookie; a new one (password change or reset, deactivation)
    # ends them all. The server default only covers rows written outside the ORM.
    session_stamp: Mapped[str] = mapped_column(String(32), default=new_session_stamp, server_default="")
    # The interface language the user chose last ("zh_CN" / "en"); None: the configured default.
    locale: Mapped[str | None] = mapped_column(String(10))

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    superior: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[superior_id])
    roles: Mapped[list[Role]] = relationship(secondary=user_roles)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """Flask-Login's id in sessions and remember-me cookies: "<id>:<session stamp>"."""
        return f"{self.id}:{self.session_stamp}"

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def role_codes(self) -> set[str]:
        return {role.code for role in self.roles}

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class ApiToken(Model):
    """A bearer token for /api/v1; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="joined")


class KeptForm(Model):
    """What a user had typed into a page's form when his session or its CSRF token ran out (kept minutes, not days)."""

    __tablename__ = "kept_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    page: Mapped[str] = mapped_column(String(500))  # the page that shows the form again
    action: Mapped[str] = mapped_column(String(500))  # where the form was sent
    fields: Mapped[list[Any]] = mapped_column(JSON)  # [[name, value], …] in the order posted
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
