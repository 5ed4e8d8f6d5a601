"""The one permission mechanism: role -> action -> data scope, applied inside queries."""
from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, or_, select, true

from bpm_crm.errors import Forbidden
from bpm_crm.extensions import db
from bpm_crm.models import Role, RolePermission, User


class Scope(enum.IntEnum):
    """How far a permission reaches, from a user's own records to everyone's."""

    OWN = 1
    SUBORDINATES = 2
    DEPARTMENT = 3
    ALL = 4


ROLES: dict[str, str] = {
    "admin": "系统管理员",
    "sales_supervisor": "销售主管",
    "account_manager": "客户经理",
    "sales_director": "销售总监",
    "executive": "高管",
    "service_agent": "客服",
    "department_head": "部门负责人",
    "process_owner": "流程负责人",
}

_A, _D, _S, _O = Scope.ALL, Scope.DEPARTMENT, Scope.SUBORDINATES, Scope.OWN

# Seeded into role_permissions; admins change the table, not this dict.
DEFAULT_POLICY: dict[str, dict[str, Scope]] = {
    "admin": {
        "opportunity.create": _A, "opportunity.read": _A, "opportunity.update": _A, "opportunity.delete": _A,
        "opportunity.assign": _A, "customer.read": _A, "customer.create": _A, "customer.update": _A,
        "process.read": _A, "process.deploy": _A, "task.claim": _A, "task.reassign": _A, "user.manage": _A,
    },
    "executive": {
        "opportunity.read": _A, "customer.read": _A, "process.read": _A, "task.claim": _A,
    },
    "sales_director": {
        "opportunity.create": _O, "opportunity.read": _A, "opportunity.update": _O, "opportunity.delete": _O,
        "opportunity.assign": _A, "customer.read": _A, "process.read": _A, "task.claim": _A,
        "task.reassign": _A,
    },
    "sales_supervisor": {
        "opportunity.create": _O, "opportunity.read": _D, "opportunity.update": _O, "opportunity.delete": _O,
        "opportunity.assign": _D, "customer.read": _D, "process.read": _D, "task.claim": _D,
        "task.reassign": _D,
    },
    "account_manager": {
        "opportunity.create": _O, "opportunity.read": _O, "opportunity.update": _O, "opportunity.delete": _O,
        "customer.read": _O, "process.read": _O, "task.claim": _O,
    },
    "service_agent": {"customer.read": _A, "task.claim": _A},
    "department_head": {"customer.read": _D, "process.read": _D, "task.claim": _D},
    "process_owner": {"process.read": _A, "process.deploy": _A},
}


def scope_for(user: User, action: str) -> Scope | None:
    """The widest scope any of the user's roles grants for `action`, or None."""
    best: Scope | None = None
    for role in user.roles:
        for permission in role.permissions:
            if permission.action == action:
                scope = Scope[permission.scope.upper()]
                best = scope if best is None or scope > best else best
    return best


def can(user: User, action: str) -> bool:
    return scope_for(user, action) is not None


def require(user: User, action: str) -> Scope:
    """The user's scope for `action`; Forbidden if he has none."""
    scope = scope_for(user, action)
    if scope is None:
        raise Forbidden("您没有执行此操作的权限")
    return scope


def visible_owner_ids(user: User, scope: Scope) -> set[int] | None:
    """Ids of the users whose records `scope` reaches; None means everyone's."""
    if scope is Scope.ALL:
        return None
    if scope is Scope.OWN:
        return {user.id}
    ids = subordinate_ids(user) | {user.id}
    if scope is Scope.DEPARTMENT and user.department_id is not None:
        ids |= set(db.session.scalars(select(User.id).where(User.department_id == user.department_id)))
    return ids


def subordinate_ids(user: User) -> set[int]:
    """Everyone below the user in the superior chain, at any depth."""
    pairs = db.session.execute(select(User.id, User.superior_id)).all()
    below: dict[int, list[int]] = {}
    for uid, superior in pairs:
        if superior is not None:
            below.setdefault(superior, []).append(uid)
    found: set[int] = set()
    stack = list(below.get(user.id, []))
    while stack:
        uid = stack.pop()
        if uid not in found:
            found.add(uid)
            stack.extend(below.get(uid, []))
    return found


def scope_clause(user: User, action: str, owner_columns: Iterable) -> ColumnElement[bool]:
    """A WHERE clause limiting rows to those whose owner columns fall in the user's scope."""
    scope = scope_for(user, action)
    if scope is None:
        return false()
    ids = visible_owner_ids(user, scope)
    if ids is None:
        return true()
    return or_(*(column.in_(ids) for column in owner_columns))


def in_scope(user: User, action: str, owner_ids: Iterable[int | None]) -> bool:
    """Whether a record with these owners is within the user's scope for `action`."""
    scope = scope_for(user, action)
    if scope is None:
        return False
    ids = visible_owner_ids(user, scope)
    return ids is None or any(owner in ids for owner in owner_ids if owner is not None)


def seed_roles() -> None:
    """Create the roles of the specification with their default permissions (idempotent)."""
    existing = {role.code: role for role in db.session.scalars(select(Role))}
    for code, name in ROLES.items():
        role = existing.get(code) or Role(code=code, name=name)
        db.session.add(role)
        have = {p.action for p in role.permissions}
        for action, scope in DEFAULT_POLICY.get(code, {}).items():
            if action not in have:
                role.permissions.append(RolePermission(action=action, scope=scope.name.lower()))
