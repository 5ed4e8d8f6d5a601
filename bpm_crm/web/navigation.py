"""The main navigation: sections shown to those who may use them, once their pages exist."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_pgettext
from flask_login import current_user

from bpm_crm.i18n import _
from bpm_crm.models import User
from bpm_crm.services import permissions
from bpm_crm.web.pages import signed_in


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    icon: str
    action: str | tuple[str, ...] | None  # a permission that makes the section useful (any of several); None: all
    blueprints: tuple[str, ...]
    group: str = "daily"  # under "更多": daily work or administration


@dataclass(frozen=True)
class NavGroup:
    """A labelled part of the "更多" menu."""

    key: str
    label: str
    items: list[NavItem]


MAIN: list[NavItem] = [
    NavItem("inbox.index", _("待办"), "inbox", None, ("inbox", "tasks")),
    NavItem("customers.index", _("客户"), "building", "customer.read", ("customers", "contacts", "interactions")),
    NavItem("opportunities.index", _("销售机会"), "lightbulb", "opportunity.read", ("opportunities",)),
    NavItem("quotes.index", _("报价"), "file-earmark-text", "quote.read", ("quotes",)),
    # Department heads work on requests (会签) without reading them all: the list shows them theirs.
    NavItem("service.index", _("客户服务"), "headset", ("service.read", "service.update"), ("service",)),
    NavItem("products.index", _("产品库存"), "box-seam", "product.read", ("products", "orders")),
]
# Listed under "更多" (more): the less daily sections, then administration, each group under its heading.
MORE: list[NavItem] = [
    NavItem("churn.index", _("流失预警"), "graph-down-arrow", "churn.read", ("churn",)),
    NavItem("care.index", _("客户关怀"), "gift", "care.read", ("care",)),
    NavItem("contacts.index", lazy_pgettext("section", "联系人"), "person-lines-fill", "customer.read", ()),
    NavItem("interactions.index", _("交往记录"), "chat-left-text", "customer.read", ()),
    NavItem("imports.index", _("导入"), "upload", "customer.import", ("imports",)),
    NavItem("recycle.index", _("回收站"), "trash", None, ("recycle",)),
    NavItem("admin.users", _("用户"), "people", "user.manage", (), "admin"),
    NavItem("admin.roles", _("角色与权限"), "shield-lock", "user.manage", (), "admin"),
    NavItem("admin.departments", _("部门"), "diagram-2", "user.manage", (), "admin"),
    NavItem("admin.dictionary", _("数据字典"), "journal-text", "dictionary.manage", (), "admin"),
    NavItem("levels.index", _("客户等级规则"), "award", "dictionary.manage", ("levels",), "admin"),
    NavItem("decisions.index", _("决策表"), "sliders", "process.deploy", ("decisions",), "admin"),
    NavItem("schedules.index", _("定时任务"), "alarm", "process.deploy", ("schedules", "care_rules"), "admin"),
    NavItem("admin.audit_log", _("审计日志"), "clock-history", "audit.read", (), "admin"),
    NavItem("admin.login_log", _("登录日志"), "door-open", "audit.read", (), "admin"),
]
GROUPS = {"daily": _("日常工作"), "admin": _("系统管理")}


def _visible(items: list[NavItem]) -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    user = signed_in()
    return [item for item in items if item.endpoint in current_app.view_functions and _allowed(user, item.action)]


def _allowed(user: User, action: str | tuple[str, ...] | None) -> bool:
    if action is None:
        return True
    return any(permissions.can(user, one) for one in ((action,) if isinstance(action, str) else action))


def main_items() -> list[NavItem]:
    return _visible(MAIN)


def more_items() -> list[NavItem]:
    return _visible(MORE)


def more_groups() -> list[NavGroup]:
    """The visible "更多" items by group, in order; a group the user has nothing in is left out."""
    items = more_items()
    return [NavGroup(key, str(label), [item for item in items if item.group == key])
            for key, label in GROUPS.items() if any(item.group == key for item in items)]
