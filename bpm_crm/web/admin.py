"""Administration pages: users, roles and permissions, departments, data dictionary, audit and login logs."""
from __future__ import annotations

import re
from datetime import date, datetime

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.forms.admin import DepartmentForm, DictionaryEntryForm, EditUserForm, PasswordForm, RoleForm, UserForm
from bpm_crm.forms.care import CARE_TASK
from bpm_crm.forms.churn import CHURN_WARNING
from bpm_crm.forms.contact import CONTACT
from bpm_crm.forms.customer import CUSTOMER
from bpm_crm.forms.interaction import INTERACTION
from bpm_crm.forms.opportunity import OPPORTUNITY
from bpm_crm.forms.quote import QUOTE, QUOTE_LINE
from bpm_crm.forms.service_request import SERVICE_REQUEST
from bpm_crm.i18n import _
from bpm_crm.models import User
from bpm_crm.services import admin, audit, dictionary, logs, permissions
from bpm_crm.services.records import RECORDS
from bpm_crm.web.display import date_text, datetime_text, status_label
from bpm_crm.web.pages import act, apply_errors, form_view, redirect_after, refusal_text, signed_in
from bpm_crm.web.query_args import id_arg, page_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")

SCOPE_LABELS = {"own": _("本人"), "subordinates": _("下属"), "department": _("本部门"), "all": _("全部")}
ACTION_LABELS = {"create": _("新建"), "update": _("修改"), "delete": _("删除"), "restore": _("恢复")}
TYPE_LABELS = {
    dictionary.REGION: _("地区"), dictionary.LEVEL: _("客户等级"), dictionary.INDUSTRY: _("行业"),
    dictionary.SOURCE: _("客户来源"), dictionary.SERVICE_TYPE: _("服务类型"), dictionary.CARE_KIND: _("关怀类型"),
}


FIELD_LABELS = {
    "name": _("名称"), "number": _("编号"), "short_name": _("简称"), "region": _("地区"), "industry": _("行业"),
    "source": _("来源"), "level": _("等级"), "satisfaction": _("满意度"), "credit": _("信用度"),
    "contact_name": _("联系人"), "phone": _("电话"), "fax": _("传真"), "website": _("网址"), "address": _("地址"),
    "postcode": _("邮编"), "licence_no": _("营业执照号"), "legal_representative": _("法人代表"),
    "registered_capital": _("注册资金"), "annual_turnover": _("年营业额"), "bank": _("开户银行"),
    "bank_account": _("银行账号"), "tax_no": _("税号"), "remarks": _("备注"), "status": _("状态"),
    "owner_id": _("负责人"), "customer_id": _("客户"), "gender": _("性别"), "position": _("职位"),
    "office_phone": _("办公电话"), "mobile": _("手机"), "email": _("邮箱"), "birthday": _("生日"),
    "date": _("日期"), "place": _("地点"), "summary": _("概要"), "detail": _("详细信息"),
    "probability": _("成功机率"), "contact": _("联系人"), "contact_phone": _("联系电话"), "description": _("描述"),
    "assignee_id": _("指派给"), "assigned_at": _("指派时间"), "closed_at": _("结束时间"), "total": _("总金额"),
    "quote_date": _("报价日期"), "contact_id": _("联系人"), "type": _("类型"), "handler_id": _("处理人"),
    "handling": _("处理情况"), "feedback": _("反馈结果"), "manager_id": _("客户经理"), "reason": _("原因"),
    "kind": _("类型"), "title": _("标题"), "due_date": _("到期日"), "note": _("备注"), "done_by_id": _("完成人"),
    "done_at": _("完成时间"), "username": _("用户名"), "full_name": _("姓名"), "active": _("在用"),
    "department_id": _("部门"), "superior_id": _("上级"), "roles": _("角色"), "password": _("密码"),
    "parent_id": _("上级"), "head_id": _("负责人"), "item": _("字典项"), "value": _("值"), "sort": _("排序"),
    "editable": _("可编辑"), "action": _("操作"), "scope": _("数据范围"), "role_id": _("角色"),
    "label": _("记录"), "rows": _("行数"), "price": _("价格"), "quantity": _("数量"), "code": _("代码"),
    "unit_price": _("单价"), "discount_pct": _("折扣 (%)"), "amount": _("金额"), "product_name": _("产品名称"),
    "min_total": _("最低金额"), "months": _("月数"), "model": _("型号"), "batch": _("批次"), "unit": _("单位"),
}
# Columns no form shows, named for the log's readers.
FIELD_LABELS.update({
    "process_instance_id": _("流程实例"), "opportunity_id": _("来源销售机会"), "customer_name": _("客户名称"),
    "handled_at": _("处理时间"), "feedback_at": _("反馈时间"), "archived_at": _("归档时间"),
    "last_order_date": _("最后下单日期"), "content": _("内容"), "warning_id": _("流失预警"), "quote_id": _("报价"),
    "product_id": _("产品"), "warehouse_id": _("仓库"), "label_en": _("英文名称"), "locale": _("语言"),
})
USER_FIELDS = {"owner_id", "assignee_id", "handler_id", "manager_id", "done_by_id", "superior_id", "head_id",
               "user_id", "author_id", "uploaded_by_id"}
CHOICE_FIELDS = {"status", "level"}  # stored Chinese, shown in the reader's language
REFERENCE_FIELDS = {"process_instance_id", "opportunity_id", "warning_id", "quote_id", "product_id",
                    "warehouse_id", "contact_id", "customer_id"}
# The record forms' own labels: the log names a field as the form that changes it does.
FORM_LABELS = {(rules.name, rule.name): rule.label for rules in (
    CUSTOMER, CONTACT, INTERACTION, OPPORTUNITY, QUOTE, QUOTE_LINE, SERVICE_REQUEST, CHURN_WARNING, CARE_TASK,
) for rule in rules}
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@bp.app_template_filter("field_label")
@bp.app_template_global("field_label")
def field_label(key: str, record_type: str | None = None) -> str:
    """A logged field as its record's form labels it, else by its common name."""
    label = FORM_LABELS.get((record_type or "", key)) or FIELD_LABELS.get(key)
    return str(label) if label is not None else key


@bp.app_template_global("audit_value")
def audit_value(key: str, value: object) -> str:
    """A logged value as a reader understands it: names for user ids, local times, 是/否 for flags, — for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_("是") if value else _("否"))
    if key in USER_FIELDS and isinstance(value, int):
        names = g.get("_audit_user_names")
        if names is None:
            names = g._audit_user_names = {u.id: u.full_name for u in admin.all_users()}
        return names.get(value, f"#{value}")
    if key in REFERENCE_FIELDS and isinstance(value, int):
        return f"#{value}"
    if key == "scope" and value in SCOPE_LABELS:
        return str(SCOPE_LABELS[str(value)])
    try:
        if isinstance(value, str) and _ISO_MOMENT.match(value):
            return datetime_text(datetime.fromisoformat(value))  # stored UTC, shown in the configured time zone
        if isinstance(value, str) and _ISO_DAY.match(value):
            return date_text(date.fromisoformat(value))
    except ValueError:  # text that only looks like a moment ("2024-02-30" in a remark) is shown as written
        return str(value)
    if key in CHOICE_FIELDS:
        return status_label(str(value))
    return str(value)


@bp.app_template_global("audit_record")
def audit_record(record_type: str | None, record_id: int | None) -> str:
    """The logged record by its label and business number ("销售机会 JH000012"), else its id."""
    label = audit.type_label(record_type)
    declared = RECORDS.find(record_type)
    if declared is not None and declared.number_prefix and record_id is not None:
        return f"{label} {declared.number(record_id)}"
    return f"{label} #{record_id}" if record_id is not None else label


@bp.app_template_filter("record_type_label")
def record_type_label(value: str | None) -> str:
    """The label of an audit or recycle-bin entry's record type (declared with the type)."""
    return audit.type_label(value)


@bp.app_template_filter("audit_action_label")
def audit_action_label(value: str | None) -> str:
    return str(ACTION_LABELS.get(value or "", value or ""))



def _require(action: str) -> User:
    user = signed_in()
    permissions.require(user, action)
    return user



def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name) or "")
    except ValueError:
        return None


def _page_args() -> dict[str, int]:
    return {"page": page_arg(), "per_page": current_app.config["PAGE_SIZE"]}


def _user_label(user: User) -> str:
    return f"{user.full_name}（{user.username}）"


def _user_choices(form: UserForm, target: User | None) -> None:
    departments = [(row.department.id, "　" * row.depth + row.department.name) for row in admin.department_tree()]
    form.department_id.choices = [(0, "—")] + departments
    superiors = [u for u in admin.active_users() if target is None or u.id != target.id]
    if target is not None and target.superior is not None and target.superior not in superiors:
        superiors.append(target.superior)
    form.superior_id.choices = [(0, "—")] + [(u.id, _user_label(u)) for u in superiors]
    form.role_ids.choices = [(r.id, f"{r.name}") for r in admin.all_roles()]


@bp.get("/users")
@login_required
def users():
    """Users: search, filter by department, role and state."""
    user = _require("user.manage")
    active_arg = request.args.get("active") or ""
    page = admin.list_users(
        user=user, q=(request.args.get("q") or "").strip()[:100] or None,
        department_id=id_arg("department_id"), role_id=id_arg("role_id"),
        active={"1": True, "0": False}.get(active_arg), **_page_args())
    return render_template("admin/users.html", page=page, departments=admin.department_tree(),
                           roles=admin.all_roles(), active=active_arg)


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def create_user():
    """Create an account with roles, department and superior."""
    user = _require("user.manage")
    form = UserForm()
    _user_choices(form, None)
    return form_view(form, "admin/user_form.html", target=None,
                     save=lambda: admin.create_user(user=user, values=form.values()),
                     done=lambda created: redirect_after(gettext("用户 %(name)s 已创建", name=created.username),
                                                         url_for("admin.users")))


@bp.route("/users/<id:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit_user(user_id: int):
    """Change a user's name, email, department, superior and roles."""
    user = _require("user.manage")
    target = admin.get_user(user=user, user_id=user_id)
    form = EditUserForm(obj=target)
    _user_choices(form, target)
    if request.method == "GET":
        form.department_id.data = target.department_id or 0
        form.superior_id.data = target.superior_id or 0
        form.role_ids.data = [r.id for r in target.roles]
    return form_view(form, "admin/user_form.html", target=target,
                     save=lambda: admin.update_user(user=user, user_id=user_id, values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存用户 %(name)s", name=target.username),
                                                   url_for("admin.users")))


def _set_active(user_id: int, active: bool):
    user = _require("user.manage")
    act(lambda: admin.set_active(user=user, user_id=user_id, active=active),
        success=lambda target: gettext("已启用 %(name)s", name=target.username) if active else gettext(
            "已停用 %(name)s，该账号不能再登录", name=target.username))
    return redirect(request.referrer if request.referrer and "/admin/users" in request.referrer
                    else url_for("admin.users"))


@bp.post("/users/<id:user_id>/deactivate")
@login_required
def deactivate_user(user_id: int):
    """Deactivate an account (never deleted; not your own)."""
    return _set_active(user_id, False)


@bp.post("/users/<id:user_id>/activate")
@login_required
def activate_user(user_id: int):
    """Reactivate an account."""
    return _set_active(user_id, True)


@bp.route("/users/<id:user_id>/password", methods=["GET", "POST"])
@login_required
def reset_password(user_id: int):
    """Give a user a new password."""
    user = _require("user.manage")
    target = admin.get_user(user=user, user_id=user_id)
    form = PasswordForm()
    return form_view(form, "admin/password.html", target=target,
                     save=lambda: admin.reset_password(user=user, user_id=user_id, password=form.password.data),
                     done=lambda _: redirect_after(gettext("已重置 %(name)s 的密码", name=target.username),
                                                   url_for("admin.users")))


@bp.route("/roles", methods=["GET", "POST"])
@login_required
def roles():
    """Roles with their user and permission counts; a form to add a role."""
    user = _require("user.manage")
    form = RoleForm()
    return form_view(form, "admin/roles.html", rows=admin.list_roles(user=user),
                     save=lambda: admin.create_role(user=user, values={"code": form.code.data,
                                                                       "name": form.name.data}),
                     done=lambda role: redirect_after(gettext("角色 %(name)s 已创建，请设置它的权限", name=role.name),
                                                      url_for("admin.role_permissions", role_id=role.id)))


@bp.route("/roles/<id:role_id>/permissions", methods=["GET", "POST"])
@login_required
def role_permissions(role_id: int):
    """The permission matrix of one role: every action × a scope (— / own / subordinates / department / all)."""
    user = _require("user.manage")
    role = admin.get_role(user=user, role_id=role_id)
    grants = admin.role_grants(role)
    status = 200
    if request.method == "POST":
        posted = {action: request.form.get(f"scope-{action}") or None for action in permissions.ACTIONS}
        name = (request.form.get("name") or "").strip()
        try:
            admin.set_role_permissions(user=user, role_id=role.id, grants=posted)
            if name and name != role.name:
                admin.rename_role(user=user, role_id=role.id, values={"name": name})
        except DomainError as exc:
            flash(refusal_text(exc), "danger")
            grants = {action: scope for action, scope in posted.items() if scope}
            status = exc.status
        else:
            flash(gettext("已保存角色 %(name)s 的权限，立即生效", name=role.name), "success")
            return redirect(url_for("admin.role_permissions", role_id=role.id))
    groups: dict[str, list[tuple[str, str]]] = {}
    for action, label in permissions.ACTIONS.items():
        groups.setdefault(action.split(".")[0], []).append((action, label))
    return render_template("admin/role_permissions.html", role=role, grants=grants, groups=groups,
                           scopes=SCOPE_LABELS, roles=admin.all_roles()), status


def _department_choices(form: DepartmentForm, department_id: int | None) -> None:
    rows = admin.department_tree()
    form.parent_id.choices = [(0, "—")] + [(r.department.id, "　" * r.depth + r.department.name) for r in rows
                                           if r.department.id != department_id]
    form.head_id.choices = [(0, "—")] + [(u.id, _user_label(u)) for u in admin.active_users()]


@bp.get("/departments")
@login_required
def departments():
    """Departments as a tree with their heads and number of users."""
    _require("user.manage")
    return render_template("admin/departments.html", rows=admin.department_tree())


@bp.route("/departments/new", methods=["GET", "POST"])
@login_required
def create_department():
    """Add a department."""
    user = _require("user.manage")
    form = DepartmentForm()
    _department_choices(form, None)
    if request.method == "GET" and (parent_id := id_arg("parent_id")):
        form.parent_id.data = parent_id
    return form_view(form, "admin/department_form.html", department=None,
                     save=lambda: admin.create_department(user=user, values=form.values()),
                     done=lambda created: redirect_after(gettext("部门 %(name)s 已创建", name=created.name),
                                                         url_for("admin.departments")))


@bp.route("/departments/<id:department_id>/edit", methods=["GET", "POST"])
@login_required
def edit_department(department_id: int):
    """Rename a department, move it or change its head."""
    user = _require("user.manage")
    department = admin.get_department(user=user, department_id=department_id)
    form = DepartmentForm(obj=department)
    _department_choices(form, department.id)
    if request.method == "GET":
        form.parent_id.data = department.parent_id or 0
        form.head_id.data = department.head_id or 0
    return form_view(form, "admin/department_form.html", department=department,
                     save=lambda: admin.update_department(user=user, department_id=department_id,
                                                          values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存部门 %(name)s", name=form.name.data),
                                                   url_for("admin.departments")))


@bp.post("/departments/<id:department_id>/delete")
@login_required
def delete_department(department_id: int):
    """Remove an empty department."""
    user = _require("user.manage")
    act(lambda: admin.delete_department(user=user, department_id=department_id),
        success=lambda name: gettext("部门 %(name)s 已删除", name=name), missing=gettext("这个部门已被删除"))
    return redirect(url_for("admin.departments"))


def _entry_type() -> str:
    types = dictionary.types()
    wanted = request.args.get("type") or types[0]
    return wanted if wanted in types else types[0]


def _region_choices(form: DictionaryEntryForm, entry_type: str, entry_id: int | None) -> None:
    entries = dictionary.list_entries(entry_type=entry_type) if entry_type == dictionary.REGION else []
    depth: dict[int, int] = {}
    choices = [(0, "—")]
    for entry in entries:
        depth[entry.id] = depth.get(entry.parent_id or 0, -1) + 1 if entry.parent_id else 0
        if entry.id != entry_id:
            choices.append((entry.id, "　" * depth[entry.id] + entry.item))
    form.parent_id.choices = choices


@bp.get("/dictionary", endpoint="dictionary")
@login_required
def dictionary_index():
    """The data dictionary, one type at a time; system entries are shown locked."""
    _require("dictionary.manage")
    entry_type = _entry_type()
    form = DictionaryEntryForm()
    _region_choices(form, entry_type, None)
    return _dictionary_page(entry_type, form, 200)


@bp.post("/dictionary/new")
@login_required
def create_entry():
    """Add an item to the chosen type."""
    user = _require("dictionary.manage")
    entry_type = _entry_type()
    form = DictionaryEntryForm()
    _region_choices(form, entry_type, None)
    if form.validate_on_submit():
        try:
            entry = dictionary.create_entry(user=user, entry_type=entry_type, values=form.values())
        except DomainError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
            return _dictionary_page(entry_type, form, exc.status)
        flash(gettext("已添加“%(item)s”", item=entry.item), "success")
        return redirect(url_for("admin.dictionary", type=entry_type))
    return _dictionary_page(entry_type, form, 422)


def _dictionary_page(entry_type: str, form: DictionaryEntryForm, status: int):
    entries = dictionary.list_entries(entry_type=entry_type)
    depth: dict[int, int] = {}
    for entry in entries:
        depth[entry.id] = depth.get(entry.parent_id, -1) + 1 if entry.parent_id else 0
    return render_template("admin/dictionary.html", types=dictionary.types(), entry_type=entry_type,
                           entries=entries, depth=depth, form=form, type_labels=TYPE_LABELS,
                           read_only=entry_type in dictionary.READ_ONLY_TYPES), status


@bp.route("/dictionary/<id:entry_id>/edit", methods=["GET", "POST"])
@login_required
def edit_entry(entry_id: int):
    """Change an editable item; system entries are refused."""
    user = _require("dictionary.manage")
    entry = dictionary.get_entry(entry_id=entry_id)
    form = DictionaryEntryForm(obj=entry)
    _region_choices(form, entry.type, entry.id)
    if request.method == "GET":
        form.parent_id.data = entry.parent_id or 0
    return form_view(form, "admin/dictionary_form.html", entry=entry, type_labels=TYPE_LABELS,
                     save=lambda: dictionary.update_entry(user=user, entry_id=entry_id, values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存“%(item)s”", item=form.item.data),
                                                   url_for("admin.dictionary", type=entry.type)))


@bp.post("/dictionary/<id:entry_id>/delete")
@login_required
def delete_entry(entry_id: int):
    """Remove an editable item; records that use it keep their text."""
    user = _require("dictionary.manage")
    entry_type: str | None = None

    def delete() -> str:
        nonlocal entry_type
        entry_type = dictionary.get_entry(entry_id=entry_id).type
        return dictionary.delete_entry(user=user, entry_id=entry_id)

    act(delete, success=lambda item: gettext("已删除“%(item)s”，已使用它的记录保留原来的文字", item=item),
        missing=gettext("这个字典项已被删除"))
    return redirect(url_for("admin.dictionary", type=entry_type) if entry_type else url_for("admin.dictionary"))


@bp.get("/audit-log")
@login_required
def audit_log():
    """Who created, changed, deleted or restored which record, field by field."""
    user = _require("audit.read")
    record_type = request.args.get("record_type") or None
    action = request.args.get("action") or None
    date_from, date_to = _date_arg("date_from"), _date_arg("date_to")
    try:
        page = logs.list_audit_entries(
            user=user, record_type=record_type if record_type in logs.record_types() else None,
            record_id=id_arg("record_id"), actor_id=id_arg("user_id"),
            action=action if action in logs.ACTIONS else None, date_from=date_from, date_to=date_to,
            **_page_args())
    except Invalid as exc:
        flash(translate(exc), "warning")
        page = logs.list_audit_entries(user=user, **_page_args())
    return render_template("admin/audit_log.html", page=page, record_types=logs.record_types(),
                           actions=logs.ACTIONS, users=admin.all_users())


@bp.get("/login-log")
@login_required
def login_log():
    """Every sign-in attempt through the pages and the API."""
    user = _require("audit.read")
    success_arg = request.args.get("success") or ""
    channel = request.args.get("channel") or None
    try:
        page = logs.list_login_events(
            user=user, username=(request.args.get("username") or "").strip()[:60] or None,
            success={"1": True, "0": False}.get(success_arg), channel=channel if channel in ("web", "api") else None,
            date_from=_date_arg("date_from"), date_to=_date_arg("date_to"), **_page_args())
    except Invalid as exc:
        flash(translate(exc), "warning")
        page = logs.list_login_events(user=user, **_page_args())
    return render_template("admin/login_log.html", page=page, success=success_arg)
