"""定时任务: the process owner's view of the timers — next runs, their rules and settings, the last runs with
their figures, failures with retry, and whether the scheduler keeps up."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.errors import DomainError, Invalid
from bpm_crm.forms.rules import whole
from bpm_crm.i18n import _
from bpm_crm.services import permissions, process_settings, schedule_board
from bpm_crm.web.pages import refusal_text, signed_in

bp = Blueprint("schedules", __name__, url_prefix="/schedules")

WEEKDAYS = [_("周日"), _("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六")]
FREQUENCIES = {"daily": _("每天"), "weekly": _("每周"), "monthly": _("每月"), "custom": _("自定义（cron）")}
# What the runs report, in the order shown; keys a process reports that are not here are shown as they are.
FIGURE_LABELS = {
    "checked": _("检查客户"), "raised": _("新发起预警"), "skipped_open": _("已有预警，跳过"),
    "closed_by_order": _("因新订单关闭"), "rules": _("执行规则"), "created": _("生成关怀任务"),
    "skipped_existing": _("已生成过"), "skipped_churned": _("已流失，跳过"), "skipped_no_owner": _("公海，跳过"),
    "skipped_condition": _("不符合条件"),
}
HIGHLIGHT = {"raised", "created", "closed_by_order"}



def describe(plan: schedule_board.RulePlan) -> str:
    """A rule in words: 每周六 02:00, 每天 06:00, 每月 1 日 02:00, or the cron line itself."""
    time = f"{plan.hour:02d}:{plan.minute:02d}"
    if plan.frequency == "daily":
        return gettext("每天 %(time)s", time=time)
    if plan.frequency == "weekly":
        return gettext("每%(weekday)s %(time)s", weekday=WEEKDAYS[plan.weekday % 7], time=time)
    if plan.frequency == "monthly":
        return gettext("每月 %(day)s 日 %(time)s", day=plan.day, time=time)
    return plan.text


def figures_of(figures: dict[str, Any] | None) -> list[tuple[str, str, Any, bool]]:
    """(key, label, value, highlighted) of a run's numeric figures, in a fixed order."""
    if not figures:
        return []
    shown = [(key, str(label), figures[key], key in HIGHLIGHT) for key, label in FIGURE_LABELS.items()
             if isinstance(figures.get(key), int)]
    return shown


@bp.get("/")
@login_required
def index():
    """Schedules with their next and last runs, settings, recent runs and failures."""
    board = schedule_board.board(user=signed_in())
    groups: dict[str, list[tuple[process_settings.Setting, Any]]] = {}
    for process_id in dict.fromkeys(setting.process_id for setting in process_settings.SETTINGS):
        try:
            groups[process_id] = process_settings.current(process_id)
        except DomainError:  # a process that is not deployed here has no settings to show
            continue
    return render_template("schedules/index.html", board=board, settings=groups, describe=describe,
                           figures_of=figures_of, weekdays=WEEKDAYS, frequencies=FREQUENCIES,
                           may_manage=permissions.can(signed_in(), schedule_board.MANAGE))


def _done(message: str):
    flash(message, "success")
    return redirect(url_for("schedules.index"))


def _refused(exc: DomainError):
    if exc.status in (403, 404):
        raise exc  # the error page: nothing here is the user's to retry
    flash(refusal_text(exc), "danger")
    return redirect(url_for("schedules.index"))


@bp.post("/<id:schedule_id>/rule")
@login_required
def change_rule(schedule_id: int):
    """Give a schedule a new rule (deployed as a new version of its process)."""
    form = request.form
    frequency = form.get("frequency") if form.get("frequency") in FREQUENCIES else "custom"
    try:
        plan = schedule_board.RulePlan(
            frequency, hour=_number(form, "hour", 0, 23), minute=_number(form, "minute", 0, 59),
            weekday=_number(form, "weekday", 0, 6), day=_number(form, "day", 1, 28),
            text=(form.get("cron") or "")[:200])
        definition = schedule_board.change_rule(schedule_id=schedule_id, plan=plan, user=signed_in())
    except DomainError as exc:
        return _refused(exc)
    return _done(gettext("已保存：%(process)s 第 %(version)s 版按新周期运行", process=definition.name,
                         version=definition.version))


RANGES = {"hour": _("小时应为 0 到 23"), "minute": _("分钟应为 0 到 59"), "weekday": _("星期应为 0（周日）到 6"),
          "day": _("日期应为 1 到 28")}


def _number(form: Any, name: str, low: int, high: int) -> int:
    """A field of the rule form; left empty it is `low`, anything else outside low…high is refused."""
    raw = (form.get(name) or "").strip()
    if not raw:
        return low
    value = whole(raw)
    if value is None or not low <= value <= high:
        raise Invalid("请更正标出的字段", {name: [str(RANGES[name])]})
    return value


@bp.post("/<id:schedule_id>/run")
@login_required
def run_now(schedule_id: int):
    """Run a schedule's process once now (its schedule stays as it is)."""
    try:
        run = schedule_board.run_now(schedule_id=schedule_id, user=signed_in())
    except DomainError as exc:
        return _refused(exc)
    if run.error:
        flash(gettext("运行失败：%(error)s", error=run.error), "danger")
        return redirect(url_for("schedules.index"))
    return _done(gettext("已运行一次"))


@bp.post("/runs/<id:run_id>/retry")
@login_required
def retry_run(run_id: int):
    """Run a failed run again for its own due time."""
    try:
        run = schedule_board.retry_run(run_id=run_id, user=signed_in())
    except DomainError as exc:
        return _refused(exc)
    if run.error:
        flash(gettext("重试仍然失败：%(error)s", error=run.error), "danger")
        return redirect(url_for("schedules.index"))
    return _done(gettext("重试成功"))


@bp.post("/jobs/<id:job_id>/retry")
@login_required
def retry_job(job_id: int):
    """Give a failed background job another round of attempts."""
    try:
        schedule_board.retry_job(job_id=job_id, user=signed_in())
    except DomainError as exc:
        return _refused(exc)
    return _done(gettext("已重新排队，稍后自动执行"))


@bp.post("/settings/<process_id>")
@login_required
def change_settings(process_id: str):
    """Change a process's settings (deployed as a new version of it)."""
    keys = {setting.key for setting in process_settings.settings_of(process_id)}
    values = {key: request.form.get(key) for key in keys if key in request.form}
    try:
        definition = schedule_board.change_settings(process_id=process_id, values=values, user=signed_in())
    except DomainError as exc:
        return _refused(exc)
    return _done(gettext("已保存：%(process)s 第 %(version)s 版使用新参数", process=definition.name,
                         version=definition.version))


def rule_words(rule: str | None) -> str:
    """A schedule's rule in words, for pages that mention when something runs."""
    return describe(schedule_board.plan_of(rule)) if rule else ""
