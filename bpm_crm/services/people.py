"""People use cases: sign-in, users, API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import ApiToken, Department, LoginEvent, Role, User
from bpm_crm.services import permissions
from bpm_crm.services.transaction import unit_of_work


@unit_of_work
def authenticate(*, username: str, password: str, channel: str = "web", ip: str | None = None,
                 user_agent: str | None = None) -> User | None:
    """The active user with these credentials, or None; every attempt goes to the login log; commits."""
    name = (username or "").strip()
    user = db.session.scalar(select(User).where(User.username == name))
    reason = None
    if user is None:
        reason = "用户不存在"
    elif not user.check_password(password or ""):
        reason = "密码错误"
    elif not user.active:
        reason = "账号已停用"
    db.session.add(LoginEvent(username=name[:60], user_id=user.id if user else None, success=reason is None,
                              channel=channel[:10], ip=(ip or None) and ip[:45],
                              user_agent=(user_agent or None) and user_agent[:255], reason=reason))
    return user if reason is None else None


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


@unit_of_work
def create_user(
    *,
    username: str,
    password: str,
    full_name: str,
    roles: list[str],
    department: str | None = None,
    superior: str | None = None,
    email: str | None = None,
) -> User:
    """Create a user with roles, department and superior (by name); commits."""
    errors: dict[str, list[str]] = {}
    if not username or len(username) > 60:
        errors["username"] = ["用户名必填，最长60个字符"]
    if len(password or "") < 8:
        errors["password"] = ["密码至少8位"]
    role_rows = list(db.session.scalars(select(Role).where(Role.code.in_(roles))))
    if len(role_rows) != len(set(roles)):
        errors["roles"] = [f"未知角色：{', '.join(sorted(set(roles) - {r.code for r in role_rows}))}"]
    if errors:
        raise Invalid("用户信息有误", errors)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名 {username} 已存在")
    user = User(username=username, full_name=full_name or username, email=email, roles=role_rows)
    user.set_password(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    if department:
        dept = db.session.scalar(select(Department).where(Department.name == department))
        if dept is None:
            dept = Department(name=department)
            db.session.add(dept)
        user.department = dept
    if superior:
        boss = db.session.scalar(select(User).where(User.username == superior))
        if boss is None:
            raise Invalid("上级不存在", {"superior": [f"用户 {superior} 不存在"]})
        user.superior = boss
    db.session.add(user)
    return user


def active_users_with_role(user: User, role_code: str, action: str) -> list[User]:
    """Active holders of a role whom `user` may hand work to within his scope for `action`."""
    query = (
        select(User)
        .join(User.roles)
        .where(Role.code == role_code, User.active.is_(True))
        .where(permissions.scope_clause(user, action, [User.id]))
        .order_by(User.department_id, User.full_name)
    )
    return list(db.session.scalars(query).unique())


def active_account_managers(user: User) -> list[User]:
    """Account managers the user may assign opportunities to."""
    return active_users_with_role(user, "account_manager", "opportunity.assign")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@unit_of_work
def issue_api_token(*, user: User, ttl_hours: int) -> tuple[str, ApiToken]:
    """A new bearer token for the API; only its hash is stored; commits."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_hash(token),
        expires_at=clock.utcnow_naive() + timedelta(hours=ttl_hours),
    )
    db.session.add(row)
    return token, row


def user_for_token(token: str) -> User | None:
    """The active user a valid, unexpired token belongs to."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.expires_at < clock.utcnow_naive() or not row.user.active:
        return None
    return row.user


@unit_of_work
def revoke_api_token(token: str) -> None:
    """Forget a token; commits."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is not None:
        db.session.delete(row)
