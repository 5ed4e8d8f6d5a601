"""Template helpers: dates in the reader's locale, status badges, labels, the navigation counts."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, g, request, url_for
from flask_babel import format_date, format_datetime, format_timedelta, get_locale, gettext
from flask_login import current_user

from bpm_crm import clock
from bpm_crm.error_messages import translate
from bpm_crm.i18n import _
from bpm_crm.services import definitions, dictionary, inbox, permissions
from bpm_crm.web import navigation
from bpm_crm.web.pages import signed_in

# Stored values are Chinese; these labels translate them for the reader.
STATUS_LABELS = {
    "未指派": _("未指派"),
    "已指派": _("已指派"),
    "开发成功": _("开发成功"),
    "开发失败": _("开发失败"),
    "正常": _("正常"),
    "已流失": _("已流失"),
    "普通": _("普通"),
    "重点": _("重点"),
    "VIP": _("VIP"),
    "草稿": _("草稿"),
    "审批中": _("审批中"),
    "已批准": _("已批准"),
    "已驳回": _("已驳回"),
    "新创建": _("新创建"),
    "已分配": _("已分配"),
    "已处理": _("已处理"),
    "已反馈": _("已反馈"),
    "已归档": _("已归档"),
    "预警": _("预警"),
    "暂缓流失": _("暂缓流失"),
    "确认流失": _("确认流失"),
    "已恢复": _("已恢复"),
    "open": _("待处理"),
    "completed": _("已完成"),
    "cancelled": _("已取消"),
    "running": _("运行中"),
    "error": _("异常"),
}
STATUS_STYLES = {
    "未指派": "secondary",
    "已指派": "primary",
    "开发成功": "success",
    "开发失败": "danger",
    "正常": "success",
    "已流失": "dark",
    "普通": "secondary",
    "重点": "info",
    "VIP": "warning",
    "草稿": "secondary",
    "审批中": "primary",
    "已批准": "success",
    "已驳回": "danger",
    "新创建": "secondary",
    "已分配": "primary",
    "已处理": "info",
    "已反馈": "success",
    "已归档": "dark",
    "预警": "danger",
    "暂缓流失": "warning",
    "确认流失": "dark",
    "已恢复": "success",
    "open": "warning",
    "completed": "success",
    "cancelled": "secondary",
    "running": "primary",
    "error": "danger",
}
ACTIONS = {
    "started": _("发起流程"),
    "completed": _("流程结束"),
    "cancelled": _("取消"),
    "completed_task": _("提交"),
    "claimed": _("认领"),
    "released": _("释放"),
    "saved": _("保存"),
    "reassigned": _("转派"),
    "timer": _("定时触发"),
    "incident": _("执行异常"),
    "watchers_added": _("抄送"),
    "reminded": _("到期提醒"),
    "escalated": _("超时升级"),
    "message": _("收到业务事件"),
    "submitted": _("提交审批"),
    "returned": _("退回"),
    "transferred": _("转交"),
    "added_signer": _("加签"),
    "withdrawn": _("撤回"),
    "nudged": _("催办"),
    "comment": _("评论"),
    "approval_auto": _("自动通过"),
    "resubmitted": _("重新提交"),
    "notified": _("已通知"),
}
ACTION_ICONS = {
    "started": "play-circle",
    "completed": "flag",
    "cancelled": "x-circle",
    "completed_task": "check2-circle",
    "claimed": "hand-index",
    "released": "arrow-return-left",
    "saved": "floppy",
    "reassigned": "arrow-left-right",
    "timer": "alarm",
    "incident": "exclamation-triangle",
    "watchers_added": "eye",
    "reminded": "bell",
    "escalated": "arrow-up-circle",
    "message": "envelope",
    "submitted": "send",
    "returned": "arrow-counterclockwise",
    "transferred": "arrow-left-right",
    "added_signer": "person-plus",
    "withdrawn": "arrow-return-left",
    "nudged": "megaphone",
    "comment": "chat-left-text",
    "approval_auto": "lightning",
    "resubmitted": "arrow-repeat",
    "notified": "bell",
}
ROLE_NAMES = {
    "admin": _("系统管理员"),
    "sales_supervisor": _("销售主管"),
    "account_manager": _("客户经理"),
    "sales_director": _("销售总监"),
    "executive": _("高管"),
    "service_agent": _("客服"),
    "service_supervisor": _("客服主管"),
    "department_head": _("部门负责人"),
    "process_owner": _("流程负责人"),
}


def _aware(moment: datetime) -> datetime:
    """Stored timestamps are naive UTC; say so before converting to the reader's time zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def datetime_text(moment: datetime | None, fmt: str = "short") -> str:
    return format_datetime(_aware(moment), fmt) if moment else ""


def date_text(day: date | datetime | None, fmt: str = "medium") -> str:
    return format_date(day, fmt) if day else ""


def relative_text(moment: datetime | None) -> str:
    """"3 天后" / "2 小时前" relative to the product clock."""
    if moment is None:
        return ""
    delta = _aware(moment) - clock.now()
    return format_timedelta(delta, granularity="minute", add_direction=True)


def status_label(value: str | None) -> str:
    return str(STATUS_LABELS.get(value or "", value or ""))


def status_style(value: str | None) -> str:
    return STATUS_STYLES.get(value or "", "secondary")


def action_label(action: str) -> str:
    return str(ACTIONS.get(action, action))


def role_name(code: str | None) -> str:
    return str(ROLE_NAMES.get(code or "", code or ""))


def candidates_label(task: Any) -> str:
    """Whom an offered task waits for, e.g. "销售主管" or "质量部负责人、王主管"."""
    from bpm_crm.extensions import db
    from bpm_crm.models import Department, User

    parts = []
    for candidate in getattr(task, "candidates", []):
        if candidate.kind == "role":
            parts.append(role_name(candidate.value))
        elif candidate.kind == "department":
            department = db.session.get(Department, int(candidate.value))
            parts.append(gettext("%(name)s负责人", name=department.name) if department else candidate.value)
        else:
            person = db.session.get(User, int(candidate.value))
            parts.append(person.full_name if person else candidate.value)
    return "、".join(parts)


def _this_request() -> object:
    """The request object itself: what `g` caches for one request is tagged with it (tests share `g`)."""
    return request._get_current_object()  # type: ignore[attr-defined]


def _reader_locale() -> str:
    locale = get_locale()
    return str(locale) if locale is not None else "zh_CN"


def process_texts(definition_id: int | None) -> dict[str, str]:
    """The translated texts of a deployed bundle in the reader's language.

    An instance keeps its version; a text that version has no translation for takes the newest
    version's, so instances started before a translation was deployed read translated too.
    """
    if definition_id is None:
        return {}
    locale = _reader_locale()
    version = definitions.version(definition_id)
    own = version.texts(locale)
    if locale.split("_")[0] == "zh":
        return own
    cached = g.get("latest_versions")
    if cached is None or cached[0] is not _this_request():
        cached = g.latest_versions = (_this_request(), {})
    latest: dict[str, int | None] = cached[1]
    if version.process_id not in latest:
        latest[version.process_id] = definitions.latest_version_id(version.process_id)
    newest = latest[version.process_id]
    if newest is None or newest == definition_id:
        return own
    return {**definitions.version(newest).texts(locale), **own}


def process_text(text: str | None, definition_id: int | None) -> str:
    """A text of a deployed process bundle (its name, a step's name) in the reader's language."""
    if not text or definition_id is None:
        return text or ""
    return process_texts(definition_id).get(text, text)


def dictionary_label(value: str | None) -> str:
    """A data-dictionary item as the reader sees it: its English label in English; a region path part by part."""
    if not value:
        return ""
    labels: dict[str, str] = {}
    if _reader_locale().split("_")[0] == "en":
        cached = g.get("dictionary_labels")
        if cached is None or cached[0] is not _this_request():
            cached = g.dictionary_labels = (_this_request(), dictionary.english_labels())
        labels = cached[1]
    return " / ".join(labels.get(part, part) for part in value.split("/"))


def labelled_choices(choices: list[Any]) -> list[tuple[Any, str]]:
    """Select options whose values are dictionary items, labelled for the reader (blank options kept)."""
    return [(value, dictionary_label(value) if value else label) for value, label in choices]


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str, sort_keys=True)


def page_url(page: int) -> str:
    """The current list URL with another page number, keeping the search and filters."""
    args = request.args.to_dict()
    args["page"] = str(page)
    return url_for(request.endpoint or "inbox.index", **{**(request.view_args or {}), **args})


def nav_counts() -> inbox.InboxCounts | None:
    """The inbox counts of the signed-in user (the layout asks once per page)."""
    if not current_user.is_authenticated:
        return None
    return inbox.counts(user=signed_in())


def url_or_none(endpoint: str, **values: Any) -> str | None:
    """A URL for an endpoint if the page exists, else None (sections link only to pages that exist)."""
    from flask import current_app

    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


def user_can(action: str) -> bool:
    return bool(current_user.is_authenticated and permissions.can(signed_in(), action))


def init_app(app: Flask) -> None:
    """Register the filters and globals the templates use."""
    app.jinja_env.filters.update(
        datetime=datetime_text,
        date=date_text,
        relative=relative_text,
        status_label=status_label,
        status_style=status_style,
        action_label=action_label,
        role_name=role_name,
        candidates_label=candidates_label,
        translate=translate,
        pretty_json=pretty_json,
        dict_label=dictionary_label,
    )
    app.jinja_env.globals.update(
        nav_counts=nav_counts,
        process_text=process_text,
        process_texts=process_texts,
        get_locale=get_locale,
        page_url=page_url,
        user_can=user_can,
        url_or_none=url_or_none,
        nav_main=navigation.main_items,
        nav_more=navigation.more_items,
        nav_more_groups=navigation.more_groups,
        action_icons=ACTION_ICONS,
        languages={"zh_CN": "中文", "en": "English"},
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
