"""People use cases: sign-in (with throttling), sessions, passwords, users, API tokens."""
from __future__ import annotations

import functools
import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, bindparam, delete, func, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from bpm_crm import clock
from bpm_crm.config import Config
from bpm_crm.errors import Conflict, DomainError, Invalid
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import ApiToken, Department, LoginEvent, Role, RolePermission, User
from bpm_crm.models.people import new_session_stamp
from bpm_crm.services import audit, permissions
from bpm_crm.services.transaction import unit_of_work

MIN_PASSWORD, MAX_PASSWORD = 8, 200
# Reasons in the login log. Only the first three are failed guesses; throttled attempts are not counted,
# so a lock runs out on time however often the locked name or address keeps trying.
UNKNOWN_USER, WRONG_PASSWORD, INACTIVE = "用户不存在", "密码错误", "账号已停用"
USER_LOCKED, ADDRESS_LOCKED = "尝试过多，用户名已锁定", "尝试过多，地址已锁定"
FAILED_GUESSES = (UNKNOWN_USER, WRONG_PASSWORD, INACTIVE)

_dummy_hashes: dict[str, str] = {}


class LoginThrottled(DomainError):
    """Too many failed sign-ins for this user name or client address; try again after `retry_after` seconds."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("登录失败次数过多，请稍后再试")
        self.retry_after = retry_after

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, rounded up."""
        return max(1, math.ceil(self.retry_after / 60))


def dummy_password_hash() -> str:
    """A hash of a random password made with the configured method, checked when the user does not exist.

    Checking it costs what checking a real user's password costs, so the answer time does not tell
    whether a user name exists.
    """
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_urlsafe(24), method=method)
    return _dummy_hashes[method]


def _lock_end(who: ColumnElement[bool], limit: int, now: datetime, after_id: int | None = None) -> datetime | None:
    """When the lock earned by `limit` failed guesses within the window ends, if it has not ended yet.

    The window and the lock are both LOGIN_LOCK_MINUTES long; only guesses logged after `after_id` count.
    """
    if limit <= 0:
        return None
    lock = timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    times: Sequence[datetime] = db.session.scalars(
        select(LoginEvent.at).where(who, LoginEvent.success.is_(False), LoginEvent.reason.in_(FAILED_GUESSES),
                                    LoginEvent.at > now - 2 * lock, LoginEvent.id > (after_id or 0))
        .order_by(LoginEvent.at.desc()).limit(limit * 10)).all()[::-1]
    end = None
    for first, last in zip(times, times[limit - 1:], strict=False):
        if last - first <= lock:  # `limit` failures within one window: locked for a window from the last
            end = last + lock
    return end if end is not None and end > now else None


def _throttle(name: str, ip: str | None) -> tuple[str, int] | None:
    """The reason and the seconds to wait when this user name or address is locked; None otherwise."""
    config = current_app.config
    now = clock.utcnow_naive()
    recent = now - timedelta(minutes=2 * config["LOGIN_LOCK_MINUTES"])
    # A successful sign-in clears the user name's count (not the address's: any account would do for that).
    last_success = db.session.scalar(select(func.max(LoginEvent.id)).where(
        LoginEvent.username == name, LoginEvent.at > recent, LoginEvent.success.is_(True)))
    user_end = _lock_end(LoginEvent.username == name, config["LOGIN_MAX_FAILURES_PER_USER"], now, last_success)
    address_end = _lock_end(LoginEvent.ip == ip, config["LOGIN_MAX_FAILURES_PER_ADDRESS"], now) if ip else None
    locks = [(end, reason) for end, reason in ((user_end, USER_LOCKED), (address_end, ADDRESS_LOCKED)) if end]
    if not locks:
        return None
    end, reason = max(locks)
    return reason, max(1, math.ceil((end - now).total_seconds()))


def authenticate(*, username: str, password: str, channel: str = "web", ip: str | None = None,
                 user_agent: str | None = None) -> User | None:
    """The active user with these credentials, or None; LoginThrottled while the name or address is locked.

    Every attempt, throttled or not, goes to the login log (committed).
    """
    user, retry_after = _attempt(username=username, password=password, channel=channel, ip=ip,
                                 user_agent=user_agent)
    if retry_after is not None:
        raise LoginThrottled(retry_after)
    return user


@unit_of_work
def _attempt(*, username: str, password: str, channel: str, ip: str | None,
             user_agent: str | None) -> tuple[User | None, int | None]:
    """Check one sign-in attempt and log it; commits. Returns the user, or the seconds to wait when locked."""
    name = (username or "").strip()
    ip = (ip or None) and ip[:45]
    user = db.session.scalar(select(User).where(User.username == name))
    throttled = _throttle(name[:60], ip)
    reason = None
    if throttled is not None:
        reason = throttled[0]  # no password check at all: a locked name answers alike whether it exists
    elif user is None:
        check_password_hash(dummy_password_hash(), password or "")
        reason = UNKNOWN_USER
    elif not user.check_password(password or ""):
        reason = WRONG_PASSWORD
    elif not user.active:
        reason = INACTIVE
    db.session.add(LoginEvent(username=name[:60], user_id=user.id if user else None, success=reason is None,
                              channel=channel[:10], ip=ip, user_agent=(user_agent or None) and user_agent[:255],
                              reason=reason))
    if throttled is not None:
        return None, throttled[1]
    return (user if reason is None else None), None


def user_for_session(session_id: str) -> User | None:
    """The active user a session or remember-me cookie names ("<id>:<stamp>"), while the stamp is current."""
    text, separator, stamp = (session_id or "").partition(":")
    user_id = parse_id(text)
    if not separator or user_id is None:
        return None
    found = db.session.execute(select(User, permissions.org_revision_column()).where(User.id == user_id)).first()
    if found is None:
        return None
    user, revision = found
    if not user.active or not hmac.compare_digest(user.session_stamp.encode(), stamp.encode()):
        return None
    permissions.note_revision(revision)
    return user


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: a new session stamp and no API tokens; the caller commits."""
    user.session_stamp = new_session_stamp()
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def new_password_errors(password: Any) -> list[str]:
    """What is wrong with a new password; empty when it is acceptable."""
    text = password if isinstance(password, str) else ""
    if len(text) < MIN_PASSWORD:
        return [str(_("密码至少%(count)s位", count=MIN_PASSWORD))]
    if len(text) > MAX_PASSWORD:
        return [str(_("密码最长%(count)s位", count=MAX_PASSWORD))]
    return []


def set_password(user: User, password: str) -> None:
    """Store a new password hash and end every session and token of the user; the caller commits."""
    user.set_password(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    end_sessions(user)


@unit_of_work
def change_password(*, user: User, current_password: str, new_password: str) -> User:
    """The user's own password change (current one, new one ≥ 8); ends all his sessions and tokens; commits."""
    errors: dict[str, list[str]] = {}
    if not user.check_password(current_password or ""):
        errors["current_password"] = ["当前密码不正确"]
    problems = new_password_errors(new_password)
    if problems:
        errors["password"] = problems
    elif "current_password" not in errors and new_password == current_password:
        errors["password"] = ["新密码不能与当前密码相同"]
    if errors:
        raise Invalid("密码不符合要求", errors)
    set_password(user, new_password)
    audit.record(record_type="user", record_id=user.id, action="update", user_id=user.id,
                 changes={"password": ["******", "******"]})
    return user


@unit_of_work
def set_locale(*, user: User, locale: str) -> User:
    """Keep the interface language the user chose, for his next sign-in on any browser; commits."""
    if locale not in Config.LANGUAGES:
        raise Invalid("不支持的语言", {"locale": ["不支持的语言"]}, code="locale")
    user.locale = locale
    return user


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
        unknown = ", ".join(sorted(set(roles) - {r.code for r in role_rows}))
        errors["roles"] = [str(_("未知角色：%(roles)s", roles=unknown))]
    if errors:
        raise Invalid("用户信息有误", errors)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("用户名 %(name)s 已存在", code="username_taken", name=username)
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
            raise Invalid("上级不存在", {"superior": [str(_("用户 %(name)s 不存在", name=superior))]},
                          code="superior_not_found", name=superior)
        user.superior = boss
    db.session.add(user)
    return user


def active_users_with_role(user: User, role_code: str, action: str, *,
                           among: list[int] | None = None) -> list[User]:
    """Active holders of a role whom `user` may hand work to within his scope for `action` (those `among`).

    Who qualifies is read from the organisation as permissions keep it; only those people are loaded.
    """
    scope = permissions.scope_for(user, action)
    if scope is None:
        return []
    reach = permissions.visible_owner_ids(user, scope)
    wanted = None if among is None else set(among)
    ids = [person for person in permissions.people_named("role", role_code)
           if (reach is None or person in reach) and (wanted is None or person in wanted)]
    if not ids:
        return []
    return list(db.session.scalars(
        select(User).where(User.id.in_(ids), User.active.is_(True))
        .options(joinedload(User.department), joinedload(User.roles))  # a handler checks the chosen one's roles
        .order_by(User.department_id, User.full_name)).unique())


def active_users_with_action(action: str, *, among: list[int] | None = None) -> list[User]:
    """Active people any of whose roles grants `action` (in any scope), by department and name (those `among`)."""
    query = (
        select(User).join(User.roles).join(Role.permissions)
        .where(RolePermission.action == action, User.active.is_(True))
        .options(joinedload(User.department), joinedload(User.roles))
        .order_by(User.department_id, User.full_name)
    )
    if among is not None:
        query = query.where(User.id.in_(among))
    return list(db.session.scalars(query).unique())


def active_account_managers(user: User, *, among: list[int] | None = None) -> list[User]:
    """Account managers the user may assign opportunities to (those `among`)."""
    return active_users_with_role(user, "account_manager", "opportunity.assign", among=among)


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


def active_api_tokens(user: User) -> int:
    """How many unexpired API tokens the user holds."""
    return db.session.scalar(select(func.count(ApiToken.id)).where(
        ApiToken.user_id == user.id, ApiToken.expires_at >= clock.utcnow_naive())) or 0


@functools.cache
def _token_statement() -> Select:
    """The token, its user and the organisation's revision: built once, run by every API request."""
    return select(ApiToken, permissions.org_revision_column()).where(ApiToken.token_hash == bindparam("token_hash"))


def user_for_token(token: str) -> User | None:
    """The active user a valid, unexpired token belongs to."""
    found = db.session.execute(_token_statement(), {"token_hash": _hash(token)}).first()
    if found is None:
        return None
    row, revision = found
    if row.expires_at < clock.utcnow_naive() or not row.user.active:
        return None
    permissions.note_revision(revision)
    return row.user


@unit_of_work
def revoke_api_token(token: str) -> None:
    """Forget a token; commits."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is not None:
        db.session.delete(row)


@unit_of_work
def revoke_api_tokens(*, user: User) -> int:
    """Forget every API token of the user (all his clients must sign in again); commits. Returns how many."""
    result = db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)
