"""客户等级规则: the rules that promote customers by their order totals, and applying them now."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.forms.level import LevelRuleForm
from bpm_crm.models import LevelRule
from bpm_crm.services import dictionary, levels, permissions
from bpm_crm.web.display import status_label
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in

bp = Blueprint("levels", __name__, url_prefix="/level-rules")



def _form(**kwargs) -> LevelRuleForm:
    form = LevelRuleForm(**kwargs)
    form.level.choices = [(level, status_label(level)) for level in dictionary.choices(dictionary.LEVEL)]
    return form


def _page(form: LevelRuleForm, editing: LevelRule | None, save: Callable[[], Any], message: str):
    return form_view(form, "levels/index.html", rules=levels.list_rules(user=signed_in()), editing=editing,
                     save=save, done=lambda _: redirect_after(message, url_for("levels.index")))


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    """The rules, highest level first, with a form to add one."""
    permissions.require(signed_in(), "dictionary.manage")
    form = _form()
    return _page(form, None, lambda: levels.create_rule(user=signed_in(), values=form.values()),
                 gettext("等级规则已添加"))


@bp.route("/<id:rule_id>/edit", methods=["GET", "POST"])
@login_required
def edit(rule_id: int):
    """Change one rule."""
    rule = levels.get_rule(rule_id=rule_id, user=signed_in())
    form = _form(obj=rule)
    return _page(form, rule, lambda: levels.update_rule(rule_id=rule_id, user=signed_in(), values=form.values()),
                 gettext("已保存修改"))


@bp.post("/<id:rule_id>/delete")
@login_required
def delete(rule_id: int):
    """Remove a rule; customers keep their levels."""
    act(lambda: levels.delete_rule(rule_id=rule_id, user=signed_in()), success=gettext("等级规则已删除"),
        missing=gettext("这条等级规则已被删除"))
    return redirect(url_for("levels.index"))


@bp.post("/apply")
@login_required
def apply():
    """Apply the active rules to every customer now and say how many moved up."""
    result = levels.apply_now(user=signed_in())
    if result.changed:
        detail = "，".join(f"{status_label(level)} {count}" for level, count in sorted(result.by_level.items()))
        flash(gettext("已应用等级规则：%(count)s 个客户的等级已提升（%(detail)s）", count=result.changed,
                      detail=detail), "success")
    else:
        flash(gettext("已应用等级规则：没有客户需要调整等级"), "info")
    return redirect(url_for("levels.index"))
