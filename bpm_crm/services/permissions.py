"""The one permission mechanism: role -> action -> data scope, applied inside queries."""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import ORMExecuteState, Session

from bpm_crm.errors import Forbidden
from bpm_crm.extensions import db, listen
from bpm_crm.models import Department, OrgRevision, Role, RolePermission, User, user_roles


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
    if _roles_in_memory(user):  # being changed in this session: what it holds now counts
        scopes = [Scope[permission.scope.upper()] for role in user.roles for permission in role.permissions
                  if permission.action == action]
        return max(scopes) if scopes else None
    return _granted_scope(user.id, action)


def _granted_scope(user_id: int, action: str) -> Scope | None:
    """The widest scope the roles the organisation says a user holds grant for `action`, or None."""
    org = snapshot()
    scopes = [scope for role_id in org.roles_of.get(user_id, ())
              if (scope := org.grants.get(role_id, {}).get(action)) is not None]
    return max(scopes) if scopes else None


def role_codes(user: User) -> set[str]:
    """The codes of the user's roles."""
    if _roles_in_memory(user):
        return user.role_codes
    codes = snapshot().role_codes
    return {codes[role_id] for role_id in snapshot().roles_of.get(user.id, ()) if role_id in codes}


def headed_department_ids(user: User) -> list[int]:
    """The departments the user heads."""
    return list(snapshot().heads.get(user.id, ()))


def _roles_in_memory(user: User) -> bool:
    return "roles" in user.__dict__ or user.id is None


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
    reach = _reach(user.id, user.department_id, scope)
    return None if reach is None else set(reach)


def _reach(user_id: int, department_id: int | None, scope: Scope) -> frozenset[int] | None:
    """Whose records `scope` reaches for a user of that department (kept per transaction); None: everyone's."""
    if scope is Scope.ALL:
        return None
    if scope is Scope.OWN:
        return frozenset({user_id})
    cache = org_cache()
    key = (user_id, department_id, scope)
    if key not in cache:
        ids = _below(user_id) | {user_id}
        if scope is Scope.DEPARTMENT and department_id is not None:
            ids |= set(snapshot().members.get(department_id, ()))
        cache[key] = frozenset(ids)
    return cache[key]


def subordinate_ids(user: User) -> set[int]:
    """Everyone below the user in the superior chain, at any depth."""
    return _below(user.id)


def _below(user_id: int) -> set[int]:
    below = snapshot().below
    found: set[int] = set()
    stack = list(below.get(user_id, []))
    while stack:
        uid = stack.pop()
        if uid not in found:
            found.add(uid)
            stack.extend(below.get(uid, []))
    return found


# The organisation as permissions read it -------------------------------------------------------------
#
# Roles, their permissions, who holds them, who reports to whom, who works where and who heads which
# department change rarely and are read by nearly every request. Any change to those tables gives the
# one row of org_revision a new random number (database triggers, so no write can forget it). A
# process keeps the organisation it read per revision number: a session reads the number — usually in
# the statement that finds the signed-in user — and reads the tables only for a number it has not met.
# A transaction that changed them sees its own, uncommitted number, which no other transaction can
# read; so nobody is handed what a rolled-back transaction saw.

@dataclass(frozen=True)
class OrgSnapshot:
    grants: dict[int, dict[str, Scope]]  # role id -> action -> scope
    role_codes: dict[int, str]  # role id -> code
    roles_of: dict[int, tuple[int, ...]]  # user id -> role ids
    below: dict[int, list[int]]  # superior id -> direct reports
    members: dict[int, list[int]]  # department id -> user ids
    heads: dict[int, tuple[int, ...]]  # user id -> departments he heads
    head_of: dict[int, int]  # department id -> its head
    department_of: dict[int, int]  # user id -> his department
    active: frozenset[int]  # users who are active


_SNAPSHOTS: dict[int, OrgSnapshot] = {}
_KEPT_SNAPSHOTS = 8
REVISION_KEY = "org_revision"


def org_revision_column() -> Any:
    """A column giving the organisation's revision, to read with the statement that finds the signed-in user."""
    return select(OrgRevision.revision).where(OrgRevision.id == 1).scalar_subquery()


def note_revision(revision: int | None) -> None:
    """Keep the revision read with the signed-in user for this session's transaction."""
    if revision is not None:
        db.session.info.setdefault(REVISION_KEY, revision)


def snapshot() -> OrgSnapshot:
    """The organisation as this session's transaction sees it."""
    cache = org_cache()
    found = cache.get("snapshot")
    if found is not None:
        return found
    session = db.session
    if _changes_organisation(session()):
        # Written first: its triggers renumber the revision (to a number only this transaction can read) and
        # the flush hook forgets the one noted before, so what it reads is never kept under a shared number.
        session.flush()
        cache = org_cache()
    revision = session.info.get(REVISION_KEY)
    if revision is None:
        revision = session.scalar(select(OrgRevision.revision).where(OrgRevision.id == 1))
        if revision is not None:
            session.info[REVISION_KEY] = revision
    found = _SNAPSHOTS.get(revision) if revision is not None else None
    if found is None:
        found = _read_snapshot()
        if revision is not None and session.info.get(REVISION_KEY) == revision:
            while len(_SNAPSHOTS) >= _KEPT_SNAPSHOTS:
                _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)), None)
            _SNAPSHOTS[revision] = found
    cache["snapshot"] = found
    return found


_ORG_MODELS = (User, Department, Role, RolePermission)


def _changes_organisation(session: Session) -> bool:
    """Whether the session holds unwritten changes to the organisation's rows."""
    return any(isinstance(row, _ORG_MODELS) for row in (*session.new, *session.dirty, *session.deleted))


def _read_snapshot() -> OrgSnapshot:
    grants: dict[int, dict[str, Scope]] = {}
    for role_id, action, scope in db.session.execute(
            select(RolePermission.role_id, RolePermission.action, RolePermission.scope)):
        grants.setdefault(role_id, {})[action] = Scope[scope.upper()]
    roles_of: dict[int, list[int]] = {}
    for user_id, role_id in db.session.execute(select(user_roles.c.user_id, user_roles.c.role_id)):
        roles_of.setdefault(user_id, []).append(role_id)
    below: dict[int, list[int]] = {}
    members: dict[int, list[int]] = {}
    department_of: dict[int, int] = {}
    active: set[int] = set()
    for uid, superior, department, is_active in db.session.execute(
            select(User.id, User.superior_id, User.department_id, User.active)):
        if superior is not None:
            below.setdefault(superior, []).append(uid)
        if department is not None:
            members.setdefault(department, []).append(uid)
            department_of[uid] = department
        if is_active:
            active.add(uid)
    heads: dict[int, list[int]] = {}
    head_of: dict[int, int] = {}
    for department_id, head_id in db.session.execute(select(Department.id, Department.head_id)):
        if head_id is not None:
            heads.setdefault(head_id, []).append(department_id)
            head_of[department_id] = head_id
    return OrgSnapshot(
        grants=grants, role_codes={role_id: code for role_id, code in db.session.execute(select(Role.id, Role.code))},
        roles_of={user_id: tuple(ids) for user_id, ids in roles_of.items()}, below=below, members=members,
        heads={user_id: tuple(ids) for user_id, ids in heads.items()}, head_of=head_of,
        department_of=department_of, active=frozenset(active),
    )


def people_named(kind: str, value: str) -> list[int]:
    """The people a task candidate (or watcher) names now, by id: the user himself, the department's head, the
    role's active holders (in id order). One answer for whom a task is offered to and who is copied on it."""
    org = snapshot()
    if kind == "user":
        return [int(value)] if value.isascii() and value.isdigit() else []
    if kind == "department":
        head = org.head_of.get(int(value)) if value.isascii() and value.isdigit() else None
        return [head] if head is not None else []
    if kind == "role":
        role_ids = {role_id for role_id, code in org.role_codes.items() if code == value}
        return sorted(user_id for user_id, held in org.roles_of.items()
                      if user_id in org.active and role_ids.intersection(held))
    return []


def user_in_scope(user_id: int, action: str, owner_ids: Iterable[int | None]) -> bool:
    """in_scope for a user known by id only (someone a task is offered to, not the signed-in user)."""
    scope = _granted_scope(user_id, action)
    if scope is None:
        return False
    reach = _reach(user_id, snapshot().department_of.get(user_id), scope)
    return reach is None or any(owner in reach for owner in owner_ids if owner is not None)


def org_cache() -> dict[Any, Any]:
    """What this session's transaction has worked out about the organisation; forgotten when it changes."""
    return db.session.info.setdefault("org_chart", {})


def _forget(session: Session) -> None:
    session.info.pop("org_chart", None)
    session.info.pop(REVISION_KEY, None)


def _forget_org_chart(session: Session, _context: Any) -> None:
    if _changes_organisation(session):
        _forget(session)


_ORG_TABLES = frozenset({"users", "departments", "roles", "role_permissions", "user_roles"})


def _forget_org_chart_on_statement(state: ORMExecuteState) -> None:
    """An INSERT, UPDATE or DELETE statement on the organisation's tables (not the ORM's flush) changes it too."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _ORG_TABLES:
            _forget(state.session)




def install() -> None:
    """Forget a session's organisation snapshot whenever the organisation may have changed (wired by create_app)."""
    listen(Session, "after_flush", _forget_org_chart)
    listen(Session, "do_orm_execute", _forget_org_chart_on_statement)
    listen(Session, "after_rollback", _forget)
    listen(Session, "after_commit", _forget)  # the next transaction reads the revision again

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
    reach = _reach(user.id, user.department_id, scope)
    return reach is None or any(owner in reach for owner in owner_ids if owner is not None)


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
