"""关怀规则: the rules the daily timer makes care tasks from — birthdays, festivals, follow-ups, the owner's own."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.forms.care import CareRuleForm
from bpm_crm.i18n import _
from bpm_crm.models import CareRule
from bpm_crm.services import care_rules, dictionary, permissions
from bpm_crm.web.display import dictionary_label
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in

bp = Blueprint("care_rules", __name__, url_prefix="/care-rules")

TRIGGER_WORDS = {"birthday": _("联系人生日"), "order": _("下单"), "service": _("客户服务办结")}



def describe(rule: CareRule) -> str:
    """When a rule's task is due and made, in words: 农历 1月1日前 2 天到期，提前 7 天生成."""
    if rule.trigger == "annual":
        calendar = gettext("农历") if rule.calendar == "lunar" else gettext("公历")
        what = gettext("每年%(calendar)s %(month)s月%(day)s日", calendar=calendar, month=rule.month, day=rule.day)
    else:
        what = str(TRIGGER_WORDS.get(rule.trigger, rule.trigger))
    if rule.offset_days > 0:
        when = gettext("%(what)s后 %(days)s 天到期", what=what, days=rule.offset_days)
    elif rule.offset_days < 0:
        when = gettext("%(what)s前 %(days)s 天到期", what=what, days=-rule.offset_days)
    else:
        when = gettext("%(what)s当天到期", what=what)
    if rule.lead_days:
        return gettext("%(when)s，提前 %(days)s 天生成", when=when, days=rule.lead_days)
    return when


def _form(**kwargs) -> CareRuleForm:
    form = CareRuleForm(**kwargs)
    form.kind.choices = [("", str(_("请选择")))] + [(kind, dictionary_label(kind))
                                                  for kind in dictionary.choices(dictionary.CARE_KIND)]
    return form


def _page(form: CareRuleForm, editing: CareRule | None, save: Callable[[], Any], message: str):
    return form_view(form, "care_rules/index.html", rules=care_rules.list_rules(user=signed_in()), editing=editing,
                     describe=describe, sample=care_rules.sample_subject(),
                     save=save, done=lambda _: redirect_after(message, url_for("care_rules.index")))


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    """The rules, active ones first, with a form to add one."""
    permissions.require(signed_in(), care_rules.MANAGE)  # before reading the form
    form = _form()
    return _page(form, None, lambda: care_rules.create_rule(user=signed_in(), values=form.values()),
                 gettext("关怀规则已添加：从下一次运行起生成关怀任务"))


@bp.route("/<id:rule_id>/edit", methods=["GET", "POST"])
@login_required
def edit(rule_id: int):
    """Change one rule (tasks it already made stay as they are)."""
    rule = care_rules.get_rule(rule_id=rule_id, user=signed_in())
    form = _form(obj=rule)
    return _page(form, rule, lambda: care_rules.update_rule(rule_id=rule_id, user=signed_in(), values=form.values()),
                 gettext("已保存修改"))


@bp.post("/<id:rule_id>/active")
@login_required
def toggle(rule_id: int):
    """Pause or resume a rule."""
    active = request.form.get("active") == "1"
    act(lambda: care_rules.set_active(rule_id=rule_id, user=signed_in(), active=active),
        success=gettext("规则已启用") if active else gettext("规则已停用"), missing=gettext("这条关怀规则已被删除"))
    return redirect(url_for("care_rules.index"))


@bp.post("/<id:rule_id>/delete")
@login_required
def delete(rule_id: int):
    """Remove a rule that never made a task."""
    act(lambda: care_rules.delete_rule(rule_id=rule_id, user=signed_in()), success=gettext("规则已删除"),
        missing=gettext("这条关怀规则已被删除"))
    return redirect(url_for("care_rules.index"))
