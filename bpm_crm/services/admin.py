"""Administration use cases: users, roles and their permissions, departments (all need user.manage)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.rules import MOBILE_MESSAGE, chinese_mobile
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Department, Role, RolePermission, User, user_roles
from bpm_crm.services import audit, human_tasks, people, permissions
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

MANAGE = "user.manage"
ADMIN_ROLE = "admin"
SCOPES = ("own", "subordinates", "department", "all")
USERNAME = re.compile(r"^[A-Za-z0-9_.\-@]{2,60}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _require(user: User) -> None:
    permissions.require(user, MANAGE)



def list_users(
    *, user: User, q: str | None = None, department_id: int | None = None, role_id: int | None = None,
    active: bool | None = None, page: int = 1, per_page: int = 20,
) -> Page:
    """Users searched by username, name or email and filtered by department, role and state."""
    _require(user)
    query = select(User).options(selectinload(User.roles), selectinload(User.department),
                                 selectinload(User.superior))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(User.username.ilike(like), User.full_name.ilike(like), User.email.ilike(like)))
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    if role_id is not None:
        query = query.where(User.id.in_(select(user_roles.c.user_id).where(user_roles.c.role_id == role_id)))
    if active is not None:
        query = query.where(User.active.is_(active))
    return paginate(query.order_by(User.active.desc(), User.department_id, User.id), page=page, per_page=per_page)


def get_user(*, user: User, user_id: int) -> User:
    """One user for administration; NotFound otherwise."""
    _require(user)
    found = db.session.get(User, user_id)
    if found is None:
        raise NotFound("用户不存在")
    return found


def active_users() -> list[User]:
    """Active users, for superior and head choices."""
    return list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.department_id,
                                                                                        User.full_name)))


def all_users() -> list[User]:
    """Every user, active first, for filters."""
    return list(db.session.scalars(select(User).order_by(User.active.desc(), User.department_id, User.full_name)))


def _roles(role_ids: Any, errors: dict[str, list[str]]) -> list[Role]:
    parsed = {parse_id(i) for i in role_ids or []}
    ids = {i for i in parsed if i is not None}
    rows = list(db.session.scalars(select(Role).where(Role.id.in_(ids)))) if ids else []
    if None in parsed or len(rows) != len(ids):
        errors["role_ids"] = ["角色不存在"]
    elif not rows:
        errors["role_ids"] = ["请至少选择一个角色"]
    return rows


def _department(department_id: Any, errors: dict[str, list[str]]) -> Department | None:
    if department_id in (None, "", 0):
        return None
    wanted = parse_id(department_id)
    department = db.session.get(Department, wanted) if wanted is not None else None
    if department is None:
        errors["department_id"] = ["部门不存在"]
    return department


def _superior(target: User | None, superior_id: Any, errors: dict[str, list[str]]) -> User | None:
    """The chosen superior; refuses the user himself and anyone below him (a cycle in the chain)."""
    if superior_id in (None, "", 0):
        return None
    wanted = parse_id(superior_id)
    superior = db.session.get(User, wanted) if wanted is not None else None
    if superior is None:
        errors["superior_id"] = ["上级不存在"]
        return None
    if target is not None and target.id is not None:
        if superior.id == target.id or superior.id in permissions.subordinate_ids(target):
            errors["superior_id"] = ["上级不能是本人或本人的下级"]
            return None
    if not superior.active and (target is None or target.superior_id != superior.id):
        errors["superior_id"] = ["上级已停用"]
    return superior


def _profile(values: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, str | None]:
    full_name = (values.get("full_name") or "").strip()
    email = (values.get("email") or "").strip() or None
    if not full_name or len(full_name) > 60:
        errors["full_name"] = ["请填写姓名，最长60个字符"]
    if email and (len(email) > 120 or not EMAIL.match(email)):
        errors["email"] = ["邮箱格式不正确"]
    return full_name, email


def _mobile(values: dict[str, Any], errors: dict[str, list[str]]) -> str | None:
    """The mobile number (for SMS notifications) as 11 digits; empty clears it."""
    try:
        return chinese_mobile(values.get("mobile"))
    except ValueError:
        errors["mobile"] = [MOBILE_MESSAGE]
        return None


def _check_password(password: Any, errors: dict[str, list[str]]) -> str:
    problems = people.new_password_errors(password)
    if problems:
        errors["password"] = problems
    return password if isinstance(password, str) else ""


def _role_change(target: User, before: list[str], actor: User) -> None:
    after = sorted(role.code for role in target.roles)
    if sorted(before) != after:
        audit.record(record_type="user", record_id=target.id, action="update", user_id=actor.id,
                     changes={"roles": [", ".join(sorted(before)) or None, ", ".join(after)]})


@unit_of_work
def create_user(*, user: User, values: dict[str, Any]) -> User:
    """Create an account: unique username, name, email, mobile, password (≥ 8), department, superior, roles; commits."""
    _require(user)
    errors: dict[str, list[str]] = {}
    username = (values.get("username") or "").strip()
    if not USERNAME.match(username):
        errors["username"] = ["用户名为2到60位字母、数字或 _ . - @"]
    full_name, email = _profile(values, errors)
    mobile = _mobile(values, errors)
    password = _check_password(values.get("password"), errors)
    roles = _roles(values.get("role_ids"), errors)
    department = _department(values.get("department_id"), errors)
    superior = _superior(None, values.get("superior_id"), errors)
    if "username" not in errors and db.session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = [str(_("用户名 %(name)s 已存在", name=username))]
    if errors:
        raise Invalid("用户信息有误", errors)
    created = User(username=username, full_name=full_name, email=email, mobile=mobile, roles=roles,
                   department_id=department.id if department else None,
                   superior_id=superior.id if superior else None)
    created.set_password(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    db.session.add(created)
    try:
        db.session.flush()
    except IntegrityError:  # created by someone else since the check above
        raise Invalid("用户信息有误", {"username": [str(_("用户名 %(name)s 已存在", name=username))]},
                      code="username_taken", name=username) from None
    _role_change(created, [], user)
    return created


@unit_of_work
def update_user(*, user: User, user_id: int, values: dict[str, Any]) -> User:
    """Change a user's name, email, mobile, department, superior and roles (the username stays); commits.

    The mobile number stays as it is when `values` has none.
    """
    target = get_user(user=user, user_id=user_id)
    errors: dict[str, list[str]] = {}
    full_name, email = _profile(values, errors)
    mobile = _mobile(values, errors) if "mobile" in values else target.mobile
    roles = _roles(values.get("role_ids"), errors)
    department = _department(values.get("department_id"), errors)
    superior = _superior(target, values.get("superior_id"), errors)
    if errors:
        raise Invalid("用户信息有误", errors)
    before = [role.code for role in target.roles]
    target.full_name, target.email, target.mobile = full_name, email, mobile
    target.department_id = department.id if department else None
    target.superior_id = superior.id if superior else None
    target.roles = roles
    if target.id == user.id and not permissions.can(target, MANAGE):
        raise Invalid("不能去掉自己管理用户的权限", {"role_ids": ["保存后您将无法再管理用户，请保留管理员角色"]})
    _role_change(target, before, user)
    return target


@unit_of_work
def set_active(*, user: User, user_id: int, active: bool) -> User:
    """Deactivate (停用) or reactivate an account; accounts are never deleted; commits.

    Deactivating ends the user's sessions and API tokens, so reactivating him does not revive them.
    """
    target = get_user(user=user, user_id=user_id)
    if not active and target.id == user.id:
        raise Conflict("不能停用自己的账号")
    if target.active and not active:
        people.end_sessions(target)
        human_tasks.hand_over_from_leaver(target, by=user)
    target.active = active
    return target


@unit_of_work
def reset_password(*, user: User, user_id: int, password: str) -> User:
    """Give a user a new password (≥ 8 characters), ending his sessions and API tokens; commits."""
    target = get_user(user=user, user_id=user_id)
    errors: dict[str, list[str]] = {}
    text = _check_password(password, errors)
    if errors:
        raise Invalid("密码不符合要求", errors)
    people.set_password(target, text)
    audit.record(record_type="user", record_id=target.id, action="update", user_id=user.id,
                 changes={"password": ["******", "******"]})
    return target



@dataclass(frozen=True)
class RoleRow:
    role: Role
    users: int
    actions: int


def list_roles(*, user: User) -> list[RoleRow]:
    """Every role with its number of active users and granted actions."""
    _require(user)
    counts: dict[int, int] = {role_id: count for role_id, count in db.session.execute(
        select(user_roles.c.role_id, func.count()).join(User, User.id == user_roles.c.user_id)
        .where(User.active.is_(True)).group_by(user_roles.c.role_id))}
    roles = db.session.scalars(select(Role).options(selectinload(Role.permissions)).order_by(Role.id))
    return [RoleRow(role, counts.get(role.id, 0), len(role.permissions)) for role in roles]


def all_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.id)))


def get_role(*, user: User, role_id: int) -> Role:
    _require(user)
    role = db.session.get(Role, role_id)
    if role is None:
        raise NotFound("角色不存在")
    return role


def _role_fields(values: dict[str, Any], role: Role | None) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    code = role.code if role else (values.get("code") or "").strip()
    name = (values.get("name") or "").strip()
    if role is None and not ROLE_CODE.match(code):
        errors["code"] = ["代码为2到40位小写字母、数字或下划线，以字母开头"]
    if not name or len(name) > 40:
        errors["name"] = ["请填写角色名称，最长40个字符"]
    if role is None and "code" not in errors and db.session.scalar(select(Role.id).where(Role.code == code)):
        errors["code"] = [str(_("角色代码 %(name)s 已存在", name=code))]
    if "name" not in errors and db.session.scalar(
            select(Role.id).where(Role.name == name, Role.id != (role.id if role else 0))):
        errors["name"] = [str(_("角色名称 %(name)s 已存在", name=name))]
    if errors:
        raise Invalid("角色信息有误", errors)
    return code, name


@unit_of_work
def create_role(*, user: User, values: dict[str, Any]) -> Role:
    """A new role without permissions (grant them in the matrix); commits."""
    _require(user)
    code, name = _role_fields(values, None)
    role = Role(code=code, name=name)
    db.session.add(role)
    db.session.flush()
    return role


@unit_of_work
def rename_role(*, user: User, role_id: int, values: dict[str, Any]) -> Role:
    """Change a role's display name (its code stays); commits."""
    role = get_role(user=user, role_id=role_id)
    role.code, role.name = _role_fields(values, role)
    return role


def role_grants(role: Role) -> dict[str, str]:
    """action -> scope of a role."""
    return {permission.action: permission.scope for permission in role.permissions}


@unit_of_work
def set_role_permissions(*, user: User, role_id: int, grants: dict[str, str | None]) -> Role:
    """Replace a role's permissions: action -> scope (None or missing: not granted); commits.

    The admin role always keeps user.manage, and nobody may take user.manage away from himself.
    """
    role = get_role(user=user, role_id=role_id)
    errors: dict[str, list[str]] = {}
    wanted: dict[str, str] = {}
    for action, scope in grants.items():
        if action not in permissions.ACTIONS:
            errors[action] = ["未知的操作"]
        elif scope not in (None, "", *SCOPES):
            errors[action] = ["数据范围应为 本人/下属/本部门/全部"]
        elif scope:
            wanted[action] = scope
    if errors:
        raise Invalid("权限设置有误", errors)
    if role.code == ADMIN_ROLE and MANAGE not in wanted:
        raise Conflict("系统管理员角色必须保留“管理用户、角色和部门”权限，否则将无人能管理系统")
    current = {permission.action: permission for permission in role.permissions}
    for action, permission in current.items():
        if action not in wanted:
            role.permissions.remove(permission)
        elif permission.scope != wanted[action]:
            permission.scope = wanted[action]
    for action, scope in wanted.items():
        if action not in current:
            role.permissions.append(RolePermission(action=action, scope=scope))
    db.session.flush()
    if not permissions.can(user, MANAGE):
        raise Conflict("保存后您将失去管理用户的权限，请保留“管理用户、角色和部门”")
    return role



@dataclass(frozen=True)
class DepartmentRow:
    department: Department
    depth: int
    head: User | None
    users: int

    @property
    def id(self) -> int:
        return self.department.id


def department_tree() -> list[DepartmentRow]:
    """Departments as a tree (parents before children, indented by depth) with head and user count."""
    departments = list(db.session.scalars(select(Department).order_by(Department.name)))
    counts: dict[int | None, int] = {department_id: count for department_id, count in db.session.execute(
        select(User.department_id, func.count()).where(User.active.is_(True)).group_by(User.department_id))}
    heads = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_([d.head_id for d in departments if d.head_id])))}
    ids = {d.id for d in departments}
    children: dict[int | None, list[Department]] = {}
    for department in departments:
        parent = department.parent_id if department.parent_id in ids else None
        children.setdefault(parent, []).append(department)
    rows: list[DepartmentRow] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for department in children.get(parent_id, []):
            rows.append(DepartmentRow(department, depth, heads.get(department.head_id or 0),
                                      counts.get(department.id, 0)))
            walk(department.id, depth + 1)

    walk(None, 0)
    return rows


def get_department(*, user: User, department_id: int) -> Department:
    _require(user)
    department = db.session.get(Department, department_id)
    if department is None:
        raise NotFound("部门不存在")
    return department


def _department_fields(values: dict[str, Any], department: Department | None) -> tuple[str, int | None, int | None]:
    errors: dict[str, list[str]] = {}
    name = (values.get("name") or "").strip()
    if not name or len(name) > 80:
        errors["name"] = ["请填写部门名称，最长80个字符"]
    elif db.session.scalar(select(Department.id).where(
            Department.name == name, Department.id != (department.id if department else 0))):
        errors["name"] = [str(_("部门 %(name)s 已存在", name=name))]
    parent_id = values.get("parent_id") or None
    if parent_id is not None:
        wanted = parse_id(parent_id)
        parent = db.session.get(Department, wanted) if wanted is not None else None
        if parent is None:
            errors["parent_id"] = ["上级部门不存在"]
        elif department is not None:
            seen: set[int] = set()
            node: Department | None = parent
            while node is not None and node.id not in seen:
                if node.id == department.id:
                    errors["parent_id"] = ["上级部门不能是本部门或其下级部门"]
                    break
                seen.add(node.id)
                node = db.session.get(Department, node.parent_id) if node.parent_id else None
    head_id = values.get("head_id") or None
    if head_id is not None:
        wanted_head = parse_id(head_id)
        head = db.session.get(User, wanted_head) if wanted_head is not None else None
        if head is None or not head.active:
            errors["head_id"] = ["负责人不存在或已停用"]
    if errors:
        raise Invalid("部门信息有误", errors)
    return name, parent_id, head_id


@unit_of_work
def create_department(*, user: User, values: dict[str, Any]) -> Department:
    """A new department under an optional parent, with an optional head; commits."""
    _require(user)
    name, parent_id, head_id = _department_fields(values, None)
    department = Department(name=name, parent_id=parent_id, head_id=head_id)
    db.session.add(department)
    db.session.flush()
    return department


@unit_of_work
def update_department(*, user: User, department_id: int, values: dict[str, Any]) -> Department:
    """Rename a department, move it under another parent (no cycles) or change its head; commits."""
    department = get_department(user=user, department_id=department_id)
    department.name, department.parent_id, department.head_id = _department_fields(values, department)
    return department


@unit_of_work
def delete_department(*, user: User, department_id: int) -> str:
    """Remove a department that has no users and no sub-departments; commits."""
    department = get_department(user=user, department_id=department_id)
    if db.session.scalar(select(User.id).where(User.department_id == department.id).limit(1)):
        raise Conflict("部门“%(name)s”下还有用户，请先调整这些用户的部门", code="department_has_users",
                       name=department.name)
    if db.session.scalar(select(Department.id).where(Department.parent_id == department.id).limit(1)):
        raise Conflict("部门“%(name)s”下还有下级部门", code="department_has_children", name=department.name)
    name = department.name
    db.session.delete(department)
    return name

