"""Quote pages (报价): list with export, create, detail with lines and attachments, draft editing, delete."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from bpm_crm import clock
from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.forms.quote import QuoteForm, QuoteLineForm
from bpm_crm.models import Quote, QuoteStatus
from bpm_crm.services import attachments, permissions, quotes
from bpm_crm.web import exports
from bpm_crm.web.display import status_label
from bpm_crm.web.query_args import id_arg, page_arg

bp = Blueprint("quotes", __name__, url_prefix="/quotes")

STATUSES = [status.value for status in QuoteStatus]


def _user():
    return current_user._get_current_object()


def _filters() -> dict[str, Any]:
    status = request.args.get("status") or None
    return {
        "q": (request.args.get("q") or "").strip()[:100] or None,
        "status": status if status in STATUSES else None,
        "customer_id": id_arg("customer_id"),
    }


def _apply_errors(form, exc: DomainError) -> None:
    flash(translate(exc), "danger")
    if isinstance(exc, Invalid):
        for name, messages in exc.field_errors.items():
            if name in form:
                form[name].errors = list(form[name].errors) + [translate(m) for m in messages]


def _header_choices(form: QuoteForm, quote: Quote | None) -> None:
    user = _user()
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
    permissions.require(_user(), "quote.read")
    filters = _filters()
    page = quotes.list_quotes(user=_user(), **filters, page=page_arg(),
                              per_page=current_app.config["PAGE_SIZE"])
    return render_template("quotes/index.html", page=page, statuses=STATUSES, **filters)


@bp.get("/export")
@login_required
def export():
    """The filtered list as an Excel file (same scope and filters as the page)."""
    permissions.require(_user(), "quote.read")
    result = quotes.list_quotes(user=_user(), **_filters(), page=1, per_page=exports.MAX_EXPORT_ROWS)
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
    permissions.require(_user(), "quote.create")
    form = QuoteForm()
    if request.method == "GET":
        form.customer_id.data = id_arg("customer_id")
        form.quote_date.data = clock.now().date()
    _header_choices(form, None)
    if form.validate_on_submit():
        try:
            quote = quotes.create_quote(user=_user(), values=form.values())
        except DomainError as exc:
            _apply_errors(form, exc)
            return render_template("quotes/form.html", form=form, quote=None), exc.status
        flash(gettext("报价 %(number)s 已创建，请添加报价明细", number=quote.number), "success")
        return redirect(url_for("quotes.edit", quote_id=quote.id))
    return render_template("quotes/form.html", form=form, quote=None), 422 if form.errors else 200


@bp.get("/<id:quote_id>")
@login_required
def show(quote_id: int):
    """One quote: header, lines with the total, attachments."""
    user = _user()
    quote = quotes.get_quote(quote_id=quote_id, user=user)
    files = attachments.list_attachments(user=user, record_type="quote", record_id=quote.id)
    editable = quote.status == QuoteStatus.DRAFT and quotes.may_update(user, quote)
    deletable = quote.status == QuoteStatus.DRAFT and quotes.may_delete(user, quote)
    return render_template("quotes/show.html", quote=quote, attachments=files, record_type="quote",
                           record_id=quote.id, editable=editable, deletable=deletable)


def _render_editor(quote: Quote, form: QuoteForm, line_form: QuoteLineForm, editing_line: int | None,
                   status: int = 200):
    products = _line_choices(line_form)
    prices = {p.id: str(p.price) for p in products}
    return render_template("quotes/edit.html", quote=quote, form=form, line_form=line_form,
                           editing_line=editing_line, prices=prices), status


def _editable(quote_id: int) -> Quote | None:
    quote = quotes.get_quote(quote_id=quote_id, user=_user())
    if quote.status != QuoteStatus.DRAFT or not quotes.may_update(_user(), quote):
        flash(gettext("只有草稿状态的报价可以由有权限的人修改"), "warning")
        return None
    return quote


@bp.route("/<id:quote_id>/edit", methods=["GET", "POST"])
@login_required
def edit(quote_id: int):
    """The draft editor: the header form and the line editor (?line=<id> loads a line into it)."""
    quote = quotes.get_quote(quote_id=quote_id, user=_user())
    form = QuoteForm(obj=quote)
    _header_choices(form, quote)
    if form.validate_on_submit():
        try:
            quotes.update_quote(quote_id=quote_id, user=_user(), values=form.values())
        except DomainError as exc:
            _apply_errors(form, exc)
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
    quote = quotes.get_quote(quote_id=quote_id, user=_user())
    line_form = QuoteLineForm()
    _line_choices(line_form)
    header = QuoteForm(formdata=None, obj=quote)
    _header_choices(header, quote)
    if not line_form.validate_on_submit():
        return _render_editor(quote, header, line_form, line_id, 422)
    try:
        if line_id is None:
            quotes.add_line(quote_id=quote_id, user=_user(), values=line_form.values())
        else:
            quotes.update_line(quote_id=quote_id, line_id=line_id, user=_user(), values=line_form.values())
    except DomainError as exc:
        _apply_errors(line_form, exc)
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
        quotes.delete_line(quote_id=quote_id, line_id=line_id, user=_user())
    except DomainError as exc:
        if exc.status == 404 and "报价不存在" in exc.message:
            raise
        flash(translate(exc), "danger")
        return redirect(url_for("quotes.show", quote_id=quote_id))
    flash(gettext("报价明细已删除，总金额已重新计算"), "success")
    return redirect(url_for("quotes.edit", quote_id=quote_id) + "#lines")


@bp.post("/<id:quote_id>/delete")
@login_required
def delete(quote_id: int):
    """Move a draft to the recycle bin (after the confirmation dialog)."""
    quote = quotes.get_quote(quote_id=quote_id, user=_user())
    number = quote.number
    try:
        quotes.delete_quote(quote_id=quote_id, user=_user())
    except DomainError as exc:
        flash(translate(exc), "danger")
        return redirect(url_for("quotes.show", quote_id=quote_id))
    flash(gettext("报价 %(number)s 已移入回收站", number=number), "success")
    return redirect(url_for("quotes.index"))
