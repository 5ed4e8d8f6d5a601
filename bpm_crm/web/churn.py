"""Churn warning pages (流失预警): list, raise by hand, detail with measures timeline and the actions."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.errors import DomainError
from bpm_crm.forms.churn import ChurnWarningForm, ConfirmForm, MeasureForm
from bpm_crm.models import ChurnWarning
from bpm_crm.services import churn, churn_scan, human_tasks, permissions
from bpm_crm.web import exports
from bpm_crm.web.customer_records import (
    filtered_customer,
    locked_customer,
    new_record_customer,
)
from bpm_crm.web.pages import act, apply_errors, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg, text_arg
from bpm_crm.web.schedules import figures_of, rule_words

bp = Blueprint("churn", __name__, url_prefix="/churn")

WRITE = churn.WRITE
REFUSED = "只有客户经理或其主管可以发起流失预警"


def _filters() -> dict:
    status = request.args.get("status") or None
    return {"q": text_arg("q"), "status": status if status in churn.STATUSES else None,
            "manager_id": id_arg("manager_id"), "customer_id": id_arg("customer_id")}


@bp.get("/")
@login_required
def index():
    """Visible churn warnings, newest first, filtered by status, account manager or customer."""
    filters = _filters()
    customer = filtered_customer(filters["customer_id"])
    page = churn.list_warnings(user=signed_in(), **filters, page=page_arg(),
                               per_page=current_app.config["PAGE_SIZE"])
    return render_template("churn/index.html", page=page, filters=filters, customer=customer,
                           statuses=churn.STATUSES, managers=churn.manager_choices(user=signed_in()),
                           may_write=permissions.can(signed_in(), WRITE), scan=churn_scan.status(),
                           rule_words=rule_words, figures_of=figures_of,
                           owner_view=permissions.can(signed_in(), "process.deploy"))


@bp.get("/export.xlsx")
@login_required
def export():
    """The churn warnings of the current filters as an Excel file, measures joined in one cell."""
    rows = churn.export_warnings(user=signed_in(), limit=exports.MAX_EXPORT_ROWS, **_filters())
    headers = [gettext("客户编号"), gettext("客户名称"), gettext("客户经理"), gettext("最后下单日期"),
               gettext("预警时间"), gettext("状态"), gettext("暂缓措施"), gettext("流失原因"), gettext("关闭时间")]
    return exports.xlsx_response(name=gettext("流失预警"), headers=headers, rows=(
        [w.customer.number, w.customer.name, w.manager.full_name if w.manager else None, w.last_order_date,
         w.created_at, gettext(w.status), "\n".join(m.content for m in w.measures), w.reason, w.closed_at]
        for w in rows))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Raise a warning by hand for a customer the user manages (or supervises)."""
    locked = locked_customer(action=WRITE, refused=REFUSED)
    form = ChurnWarningForm()
    new_record_customer(form, action=WRITE, locked=locked)
    return form_view(form, "churn/form.html", locked=locked,
                     save=lambda: churn.create_warning(user=signed_in(), values={"customer_id": form.customer_id.data}),
                     done=lambda warning: redirect_after(gettext("已发起流失预警，请记录暂缓措施"),
                                                         url_for("churn.show", warning_id=warning.id)))


def _show(warning: ChurnWarning, *, measure: MeasureForm | None = None, confirm: ConfirmForm | None = None,
          acknowledge_error: str | None = None, status: int = 200):
    may_write = permissions.customer_in_scope(signed_in(), warning.customer_id, WRITE)
    step = churn.open_task(warning)
    return render_template("churn/show.html", warning=warning, may_write=may_write,
                           is_open=warning.status in churn.OPEN_STATUSES, step=step,
                           step_visible=step is not None and human_tasks.may_see_task(signed_in(), step),
                           measure_form=measure or MeasureForm(formdata=None),
                           confirm_form=confirm or ConfirmForm(formdata=None),
                           acknowledged=request.method == "POST" and request.form.get("acknowledge") == "1",
                           acknowledge_error=acknowledge_error), status


@bp.get("/<id:warning_id>")
@login_required
def show(warning_id: int):
    """One warning: customer, manager, last order, the measures in order, and what can be done next."""
    return _show(churn.get_warning(warning_id=warning_id, user=signed_in()))


@bp.post("/<id:warning_id>/measures")
@login_required
def add_measure(warning_id: int):
    """Append a measure (暂缓措施); the first one defers the churn."""
    warning = churn.get_warning(warning_id=warning_id, user=signed_in())
    form = MeasureForm()
    if not form.validate_on_submit():
        return _show(warning, measure=form, status=422)
    try:
        churn.add_measure(warning_id=warning_id, user=signed_in(), content=form.content.data)
    except DomainError as exc:
        apply_errors(form, exc)
        return _show(churn.get_warning(warning_id=warning_id, user=signed_in()), measure=form, status=exc.status)
    flash(gettext("已记录暂缓措施"), "success")
    return redirect(url_for("churn.show", warning_id=warning_id))


@bp.post("/<id:warning_id>/confirm")
@login_required
def confirm(warning_id: int):
    """Confirm the churn with its reason and an explicit acknowledgement; the customer becomes 已流失."""
    warning = churn.get_warning(warning_id=warning_id, user=signed_in())
    form = ConfirmForm()
    # Checked with the reason, on the server: no browser dialog that asks before the reason is known to be valid.
    acknowledged = request.form.get("acknowledge") == "1"
    if not form.validate_on_submit() or not acknowledged:
        error = None if acknowledged else gettext("请勾选此项：确认流失后不可撤销")
        return _show(warning, confirm=form, acknowledge_error=error, status=422)
    try:
        churn.confirm(warning_id=warning_id, user=signed_in(), reason=form.reason.data)
    except DomainError as exc:
        apply_errors(form, exc)
        return _show(churn.get_warning(warning_id=warning_id, user=signed_in()), confirm=form, status=exc.status)
    flash(gettext("已确认流失，客户状态已改为“已流失”"), "success")
    return redirect(url_for("churn.show", warning_id=warning_id))


@bp.post("/<id:warning_id>/recover")
@login_required
def recover(warning_id: int):
    """Close the warning: the customer is ordering again."""
    act(lambda: churn.recover(warning_id=warning_id, user=signed_in()), success=gettext("已标记为已恢复"))
    return redirect(url_for("churn.show", warning_id=warning_id))


@bp.post("/<id:warning_id>/delete")
@login_required
def delete(warning_id: int):
    """Move a warning with its measures to the recycle bin (confirmed in the page)."""
    if act(lambda: churn.delete_warning(warning_id=warning_id, user=signed_in()),
           success=gettext("流失预警已移入回收站")):
        return redirect(url_for("churn.index"))
    return redirect(url_for("churn.show", warning_id=warning_id))
