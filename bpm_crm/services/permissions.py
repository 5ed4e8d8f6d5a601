"""The one permission mechanism: role -> action -> data scope, applied inside queries."""
from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, event, false, or_, select, true
from sqlalchemy.orm import Session

from bpm_crm.errors import Forbidden
from bpm_crm.extensions import db
from bpm_crm.models import Department, Role, RolePermission, User


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
    "service_supervisor": "客服主管",
    "department_head": "部门负责人",
    "process_owner": "流程负责人",
}

# Every action a role may hold; admin pages list these.
ACTIONS: dict[str, str] = {
    "opportunity.create": "新建销售机会", "opportunity.read": "查看销售机会", "opportunity.update": "修改销售机会",
    "opportunity.delete": "删除销售机会", "opportunity.assign": "指派销售机会",
    "customer.read": "查看客户", "customer.create": "新建客户", "customer.update": "修改客户及其联系人、交往记录",
    "customer.delete": "删除客户", "customer.claim": "从公海领取客户", "customer.transfer": "转移客户",
    "customer.share": "共享客户", "customer.export": "导出", "customer.import": "导入客户和联系人",
    "quote.read": "查看报价", "quote.create": "新建报价", "quote.update": "修改报价", "quote.delete": "删除报价",
    "service.read": "查看客户服务", "service.create": "新建客户服务", "service.update": "处理客户服务",
    "churn.read": "查看流失预警", "churn.update": "处理流失预警",
    "care.read": "查看客户关怀", "care.update": "处理客户关怀",
    "product.read": "查询产品和库存", "product.manage": "维护产品、仓库和库存",
    "order.read": "查看历史订单", "order.import": "导入订单",
    "process.read": "查看流程", "process.deploy": "部署流程", "task.claim": "认领任务", "task.reassign": "转派任务",
    "user.manage": "管理用户、角色和部门", "dictionary.manage": "维护数据字典和等级规则",
    "audit.read": "查看审计和登录日志", "recycle.restore": "从回收站恢复",
}

_A, _D, _S, _O = Scope.ALL, Scope.DEPARTMENT, Scope.SUBORDINATES, Scope.OWN

_CUSTOMER_WORK = ("customer.read", "customer.create", "customer.update", "customer.delete", "customer.claim",
                  "customer.share", "customer.export", "customer.import", "quote.read", "quote.create",
                  "quote.update", "quote.delete", "churn.read", "churn.update", "care.read", "care.update",
                  "order.read", "service.read", "recycle.restore")


def _grant(scope: Scope, *actions: str) -> dict[str, Scope]:
    return dict.fromkeys(actions, scope)


# Seeded into role_permissions; admins change the table, not this dict.
DEFAULT_POLICY: dict[str, dict[str, Scope]] = {
    "admin": _grant(_A, *ACTIONS),
    "executive": {
        "opportunity.read": _A, "process.read": _A, "task.claim": _A, "product.read": _A,
        **_grant(_A, "customer.read", "customer.export", "quote.read", "service.read", "churn.read", "care.read",
                 "order.read", "audit.read"),
    },
    "sales_director": {
        "opportunity.create": _O, "opportunity.read": _A, "opportunity.update": _O, "opportunity.delete": _O,
        "opportunity.assign": _A, "process.read": _A, "task.claim": _A, "task.reassign": _A, "product.read": _A,
        **_grant(_A, *_CUSTOMER_WORK, "customer.transfer", "order.import"),
    },
    "sales_supervisor": {
        "opportunity.create": _O, "opportunity.read": _D, "opportunity.update": _O, "opportunity.delete": _O,
        "opportunity.assign": _D, "process.read": _D, "task.claim": _D, "task.reassign": _D, "product.read": _A,
        "service.create": _S,
        **_grant(_S, *_CUSTOMER_WORK, "customer.transfer"),
    },
    "account_manager": {
        "opportunity.create": _O, "opportunity.read": _O, "opportunity.update": _O, "opportunity.delete": _O,
        "process.read": _O, "task.claim": _O, "product.read": _A, "service.create": _O,
        **_grant(_O, *_CUSTOMER_WORK),
    },
    "service_agent": {
        "task.claim": _A, "product.read": _A,
        **_grant(_A, "customer.read", "service.read", "service.create", "service.update", "order.read"),
    },
    # He reads a complaint only while his department signs it off (services.service_requests reads it so).
    "service_supervisor": {
        "task.claim": _A, "task.reassign": _A, "process.read": _A, "product.read": _A,
        **_grant(_A, "customer.read", "service.read", "service.create", "service.update", "order.read"),
    },
    "department_head": {"customer.read": _D, "process.read": _D, "task.claim": _D, "service.update": _D},
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
    cache = org_cache()
    key = (user.id, scope)
    if key not in cache:
        ids = subordinate_ids(user) | {user.id}
        if scope is Scope.DEPARTMENT and user.department_id is not None:
            ids |= set(_chart()["members"].get(user.department_id, ()))
        cache[key] = frozenset(ids)
    return set(cache[key])


def subordinate_ids(user: User) -> set[int]:
    """Everyone below the user in the superior chain, at any depth."""
    below = _chart()["below"]
    found: set[int] = set()
    stack = list(below.get(user.id, []))
    while stack:
        uid = stack.pop()
        if uid not in found:
            found.add(uid)
            stack.extend(below.get(uid, []))
    return found


def _chart() -> dict[str, dict[int, list[int]]]:
    """Who reports to whom and who works where, read in one statement per session."""
    cache = org_cache()
    if "chart" not in cache:
        below: dict[int, list[int]] = {}
        members: dict[int, list[int]] = {}
        for uid, superior, department in db.session.execute(select(User.id, User.superior_id, User.department_id)):
            if superior is not None:
                below.setdefault(superior, []).append(uid)
            if department is not None:
                members.setdefault(department, []).append(uid)
        cache["chart"] = {"below": below, "members": members}
    return cache["chart"]


def org_cache() -> dict[Any, Any]:
    """The org chart as this session has read it; forgotten when people, departments or roles change."""
    return db.session.info.setdefault("org_chart", {})


@event.listens_for(Session, "after_flush")
def _forget_org_chart(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(row, (User, Department, Role, RolePermission)) for row in changed):
        session.info.pop("org_chart", None)


@event.listens_for(Session, "after_rollback")
def _forget_org_chart_on_rollback(session: Session) -> None:
    session.info.pop("org_chart", None)


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


def customer_clause(user: User, action: str = "customer.read") -> ColumnElement[bool]:
    """Customers the user may act on: owner within his scope; for reading also shared ones and the pool.

    Shares are read-only and the public pool (no owner) is readable by those who may claim from it.
    """
    from bpm_crm.models import Customer, CustomerShare

    clause = scope_clause(user, action, (Customer.owner_id,))
    if action != "customer.read":
        return clause
    extra: list[ColumnElement[bool]] = [
        Customer.id.in_(select(CustomerShare.customer_id).where(CustomerShare.user_id == user.id))
    ]
    if can(user, "customer.claim"):
        extra.append(Customer.owner_id.is_(None))
    return or_(clause, *extra)


def via_customer(user: User, customer_id_column: Any, action: str = "customer.read") -> ColumnElement[bool]:
    """A WHERE clause for records that belong to a customer: visible when their customer is."""
    from bpm_crm.models import Customer

    if scope_for(user, action) is Scope.ALL:
        return true()
    return customer_id_column.in_(select(Customer.id).where(customer_clause(user, action)))


def customer_in_scope(user: User, customer_id: int, action: str = "customer.read") -> bool:
    """Whether the user may act (`action`) on the customer with this id."""
    from bpm_crm.models import Customer

    return db.session.scalar(
        select(Customer.id).where(Customer.id == customer_id, customer_clause(user, action))
    ) is not None


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
