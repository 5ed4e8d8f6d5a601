"""Quote pages (报价): list with export, create, detail with lines, attachments and its approval, draft editing,
delete; submitting for approval (提交审批, 修改后重新提交), withdrawing it (撤回) and reminding the approvers (催办)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta, gettext
from flask_login import login_required

from bpm_crm import clock
from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError
from bpm_crm.forms.quote import QuoteForm, QuoteLineForm
from bpm_crm.models import Quote, QuoteStatus
from bpm_crm.services import (
    approval_trail,
    approvals,
    attachments,
    inbox,
    permissions,
    quote_approval,
    quote_pdf,
    quotes,
)
from bpm_crm.web import exports
from bpm_crm.web.display import status_label
from bpm_crm.web.pages import act, apply_errors, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg

bp = Blueprint("quotes", __name__, url_prefix="/quotes")

STATUSES = [status.value for status in QuoteStatus]
# A quote's content may change while it is a draft, and after a rejection (revised, then submitted again).
EDITABLE = (QuoteStatus.DRAFT, QuoteStatus.REJECTED)



def _filters() -> dict[str, Any]:
    status = request.args.get("status") or None
    return {
        "q": (request.args.get("q") or "").strip()[:100] or None,
        "status": status if status in STATUSES else None,
        "customer_id": id_arg("customer_id"),
    }



def _header_choices(form: QuoteForm, quote: Quote | None) -> None:
    user = signed_in()
    customers = quotes.customer_options(user=user)
    if quote is not None and all(c.id != quote.customer_id for c in customers):
        customers.insert(0, quote.customer)
    form.customer_id.choices = [("", gettext("请选择客户"))] + [
        (c.id, f"{c.name}（{c.number}）" if c.number else c.name) for c in customers]
    contacts = quotes.contact_options(customer_ids=[c.id for c in customers])
    form.contact_id.choices = [("", "—")] + [(c.id, c.name) for c in contacts]
    form.contact_customers = {c.id: c.customer_id for c in contacts}


def _line_choices(form: QuoteLineForm) -> list:
    products = quotes.product_options()
    form.product_id.choices = [("", gettext("自定义（不在产品目录中）"))] + [
        (p.id, " · ".join(part for part in (p.name, p.model, p.code) if part)) for p in products]
    return products


@bp.get("/")
@login_required
def index():
    """The visible quotes, searched by number, name or customer, filtered by status, paged."""
    permissions.require(signed_in(), "quote.read")
    filters = _filters()
    page = quotes.list_quotes(user=signed_in(), **filters, page=page_arg(),
                              per_page=current_app.config["PAGE_SIZE"])
    pending = [q.process_instance_id for q in page.items if q.status == QuoteStatus.PENDING and q.process_instance_id]
    return render_template("quotes/index.html", page=page, statuses=STATUSES, **filters,
                           waiting=inbox.waiting_tasks(pending))


@bp.get("/export")
@login_required
def export():
    """The filtered list as an Excel file (same scope and filters as the page)."""
    permissions.require(signed_in(), "quote.read")
    result = quotes.list_quotes(user=signed_in(), **_filters(), page=1, per_page=exports.MAX_EXPORT_ROWS)
    headers = [gettext("编号"), gettext("报价名称"), gettext("客户"), gettext("联系人"), gettext("报价日期"),
               gettext("总金额"), gettext("状态"), gettext("创建人"), gettext("创建时间")]
    rows = ([q.number, q.name, q.customer.name, q.contact.name if q.contact else "", q.quote_date, q.total,
             status_label(q.status), q.created_by.full_name if q.created_by else "", q.created_at]
            for q in result.items)
    return exports.xlsx_response(name=gettext("报价"), headers=headers, rows=rows)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """A new draft quote; lines are added on the next page."""
    permissions.require(signed_in(), "quote.create")
    form = QuoteForm()
    if request.method == "GET":
        form.customer_id.data = id_arg("customer_id")
        form.quote_date.data = clock.today(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    _header_choices(form, None)
    return form_view(form, "quotes/form.html", quote=None,
                     save=lambda: quotes.create_quote(user=signed_in(), values=form.values()),
                     done=lambda quote: redirect_after(
                         gettext("报价 %(number)s 已创建，请添加报价明细", number=quote.number),
                         url_for("quotes.edit", quote_id=quote.id)))


def _duration(seconds: int | None) -> str:
    return format_timedelta(timedelta(seconds=seconds), threshold=1.1) if seconds is not None else ""


def _approval(quote: Quote, files: list[Any]) -> dict[str, Any]:
    """The quote's approval as its page shows it: the timeline, who it waits for, what the user may do."""
    user = signed_in()
    latest = approval_trail.request(quote.process_instance_id)
    instance = quote_approval.pending_for(quote)
    trail = approval_trail.trail(latest.id) if latest is not None else []
    requester = instance is not None and approvals.is_requester(user, instance)
    waiting = approval_trail.waiting(instance.id) if instance is not None else []
    untouched = instance is not None and not approvals.decided_this_round(instance.id)
    rejection = next((entry for entry in reversed(trail) if entry.kind in ("reject", "return")), None)
    return {
        "trail": trail,
        "instance_id": latest.id if latest is not None else None,
        "definition_id": latest.definition_id if latest is not None else None,
        "waiting": [task for task in waiting if approvals.step_of(task) is not None],
        "my_task": next((task for task in waiting if task.assignee_id == user.id
                         and approvals.step_of(task) is not None), None),
        "steps": [(step, _duration(step.seconds)) for step in quote_approval.step_times(latest.id)]
        if latest is not None else [],
        "can_submit": quote.status == QuoteStatus.DRAFT and quotes.may_update(user, quote) and bool(quote.lines),
        "can_resubmit": quote.status == QuoteStatus.REJECTED and requester and quotes.may_update(user, quote),
        "can_withdraw": requester and (quote.status == QuoteStatus.REJECTED
                                       or (quote.status == QuoteStatus.PENDING and untouched)),
        "can_nudge": requester and quote.status == QuoteStatus.PENDING and any(t.assignee_id for t in waiting),
        "rejection": rejection if quote.status == QuoteStatus.REJECTED else None,
        "pdf": next((f for f in files if f.filename == quote_pdf.pdf_filename(quote)), None),
        "ended": instance is None and latest is not None,  # withdrawn, or approved
    }


@bp.get("/<id:quote_id>")
@login_required
def show(quote_id: int):
    """One quote: header, lines with the total, attachments, and its approval (timeline, actions, PDF)."""
    user = signed_in()
    quote = quotes.get_quote(quote_id=quote_id, user=user)
    files = attachments.list_attachments(user=user, record_type="quote", record_id=quote.id)
    editable = quote.status in EDITABLE and quotes.may_update(user, quote)
    deletable = quote.status == QuoteStatus.DRAFT and quotes.may_delete(user, quote)
    # Its author still reads a quote whose customer went to another manager, but not the customer.
    customer_readable = permissions.customer_in_scope(user, quote.customer_id)
    return render_template("quotes/show.html", quote=quote, attachments=files, record_type="quote",
                           record_id=quote.id, editable=editable, deletable=deletable,
                           customer_readable=customer_readable, approval=_approval(quote, files))


def _after_action(quote_id: int, action: Any, message: str):
    """Run an approval action on the quote; its page again, with the outcome or the reason it was refused."""
    act(action, success=message)
    return redirect(url_for("quotes.show", quote_id=quote_id) + "#approval")


@bp.post("/<id:quote_id>/submit")
@login_required
def submit(quote_id: int):
    """提交审批 a draft, or 修改后重新提交 a rejected quote."""
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    message = gettext("已重新提交审批") if quote.status == QuoteStatus.REJECTED else gettext("已提交审批")
    return _after_action(quote_id, lambda: quote_approval.submit(quote_id=quote_id, user=signed_in()), message)


@bp.post("/<id:quote_id>/withdraw")
@login_required
def withdraw(quote_id: int):
    """撤回 the approval (with the reason asked for): the quote is a draft again."""
    quotes.get_quote(quote_id=quote_id, user=signed_in())
    reason = (request.form.get("reason") or "").strip() or None  # its length is the service's to check
    return _after_action(quote_id, lambda: quote_approval.withdraw(quote_id=quote_id, user=signed_in(), reason=reason),
                         gettext("已撤回，报价回到草稿状态"))


@bp.post("/<id:quote_id>/nudge")
@login_required
def nudge(quote_id: int):
    """催办: remind the approvers the quote waits for."""
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    instance = quote_approval.pending_for(quote)
    if instance is None:
        flash(gettext("此报价不在审批中"), "warning")
        return redirect(url_for("quotes.show", quote_id=quote_id))
    return _after_action(quote_id, lambda: approvals.nudge(instance_id=instance.id, user=signed_in()),
                         gettext("已提醒审批人尽快处理"))


def _render_editor(quote: Quote, form: QuoteForm, line_form: QuoteLineForm, editing_line: int | None,
                   status: int = 200):
    products = _line_choices(line_form)
    prices = {p.id: str(p.price) for p in products}
    return render_template("quotes/edit.html", quote=quote, form=form, line_form=line_form,
                           editing_line=editing_line, prices=prices), status


def _editable(quote_id: int) -> Quote | None:
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    if quote.status not in EDITABLE or not quotes.may_update(signed_in(), quote):
        flash(gettext("只有草稿或未获批准的报价可以由有权限的人修改"), "warning")
        return None
    return quote


@bp.route("/<id:quote_id>/edit", methods=["GET", "POST"])
@login_required
def edit(quote_id: int):
    """The draft editor: the header form and the line editor (?line=<id> loads a line into it)."""
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    form = QuoteForm(obj=quote)
    _header_choices(form, quote)
    if form.validate_on_submit():
        try:
            quotes.update_quote(quote_id=quote_id, user=signed_in(), values=form.values())
        except DomainError as exc:
            apply_errors(form, exc)
            return _render_editor(quote, form, QuoteLineForm(formdata=None), None, exc.status)
        flash(gettext("已保存修改"), "success")
        return redirect(url_for("quotes.edit", quote_id=quote_id))
    if request.method == "POST":
        return _render_editor(quote, form, QuoteLineForm(formdata=None), None, 422)
    if _editable(quote_id) is None:
        return redirect(url_for("quotes.show", quote_id=quote_id))
    line_id = id_arg("line")
    line = next((item for item in quote.lines if item.id == line_id), None)
    line_form = QuoteLineForm(formdata=None, obj=line)
    return _render_editor(quote, form, line_form, line.id if line else None)


def _save_line(quote_id: int, line_id: int | None):
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    line_form = QuoteLineForm()
    _line_choices(line_form)
    header = QuoteForm(formdata=None, obj=quote)
    _header_choices(header, quote)
    if not line_form.validate_on_submit():
        return _render_editor(quote, header, line_form, line_id, 422)
    try:
        if line_id is None:
            quotes.add_line(quote_id=quote_id, user=signed_in(), values=line_form.values())
        else:
            quotes.update_line(quote_id=quote_id, line_id=line_id, user=signed_in(), values=line_form.values())
    except DomainError as exc:
        apply_errors(line_form, exc)
        return _render_editor(quote, header, line_form, line_id, exc.status)
    flash(gettext("报价明细已保存，总金额已重新计算"), "success")
    return redirect(url_for("quotes.edit", quote_id=quote_id) + "#lines")


@bp.post("/<id:quote_id>/lines")
@login_required
def add_line(quote_id: int):
    """Add a line to a draft."""
    return _save_line(quote_id, None)


@bp.post("/<id:quote_id>/lines/<id:line_id>")
@login_required
def update_line(quote_id: int, line_id: int):
    """Change a line of a draft."""
    return _save_line(quote_id, line_id)


@bp.post("/<id:quote_id>/lines/<id:line_id>/delete")
@login_required
def delete_line(quote_id: int, line_id: int):
    """Remove a line from a draft."""
    try:
        quotes.delete_line(quote_id=quote_id, line_id=line_id, user=signed_in())
    except DomainError as exc:
        if exc.status == 404 and exc.code != "quote_line_not_found":
            raise  # the quote itself: no page to go back to
        flash(translate(exc), "danger")
        return redirect(url_for("quotes.show", quote_id=quote_id))
    flash(gettext("报价明细已删除，总金额已重新计算"), "success")
    return redirect(url_for("quotes.edit", quote_id=quote_id) + "#lines")


@bp.post("/<id:quote_id>/delete")
@login_required
def delete(quote_id: int):
    """Move a draft to the recycle bin (after the confirmation dialog)."""
    quote = quotes.get_quote(quote_id=quote_id, user=signed_in())
    number = quote.number
    if act(lambda: quotes.delete_quote(quote_id=quote_id, user=signed_in()),
           success=gettext("报价 %(number)s 已移入回收站", number=number)):
        return redirect(url_for("quotes.index"))
    return redirect(url_for("quotes.show", quote_id=quote_id))
