"""Interaction pages (交往记录): list with search and export, create from a customer, detail, edit, delete."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.forms.interaction import InteractionForm
from bpm_crm.models import Customer, Interaction
from bpm_crm.services import customer_records, interactions, permissions
from bpm_crm.web import exports
from bpm_crm.web.customer_records import (
    after_create,
    back_to_customer,
    fill_customer_choices,
    filtered_customer,
    locked_customer,
    new_record_customer,
)
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg, text_arg

bp = Blueprint("interactions", __name__, url_prefix="/interactions")

WRITE = interactions.WRITE
REFUSED = "您只能查看此客户，不能为其添加交往记录"


def _filters() -> dict:
    sort = request.args.get("sort")
    return {"q": text_arg("q"), "customer_id": id_arg("customer_id"),
            "sort": sort if sort in interactions.SORTS else "date"}


def _page(form: InteractionForm, interaction: Interaction | None, locked: Customer | None, **steps: Any):
    return form_view(form, "interactions/form.html", interaction=interaction, locked=locked,
                     today=customer_records.local_today(), **steps)


@bp.get("/")
@login_required
def index():
    """Visible interactions: search, filter by customer, latest first, paged."""
    filters = _filters()
    customer = filtered_customer(filters["customer_id"])
    page = interactions.list_interactions(user=signed_in(), **filters, page=page_arg(),
                                          per_page=current_app.config["PAGE_SIZE"])
    return render_template("interactions/index.html", page=page, filters=filters, customer=customer,
                           may_write=permissions.can(signed_in(), WRITE))


@bp.get("/export.xlsx")
@login_required
def export():
    """The interactions of the current search and filters as an Excel file."""
    rows = interactions.export_interactions(user=signed_in(), limit=exports.MAX_EXPORT_ROWS, **_filters())
    headers = [gettext("客户编号"), gettext("客户名称"), gettext("日期"), gettext("地点"), gettext("概要"),
               gettext("详细信息"), gettext("备注")]
    return exports.xlsx_response(name=gettext("交往记录"), headers=headers, rows=(
        [r.customer.number, r.customer.name, r.date, r.place, r.summary, r.detail, r.remarks] for r in rows))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Record an interaction; opened from a customer page the customer is fixed and saving returns there."""
    locked = locked_customer(action=WRITE, refused=REFUSED)
    form = InteractionForm(date=customer_records.local_today().isoformat())
    new_record_customer(form, action=WRITE, locked=locked)
    return _page(form, None, locked,
                 done=lambda record: redirect_after(gettext("交往记录已保存"), after_create(
                     locked, url_for("interactions.show", interaction_id=record.id))),
                 save=lambda: interactions.create_interaction(user=signed_in(), values=form.values()))


@bp.get("/<id:interaction_id>")
@login_required
def show(interaction_id: int):
    """One interaction with its customer."""
    interaction = interactions.get_interaction(interaction_id=interaction_id, user=signed_in())
    may_write = permissions.customer_in_scope(signed_in(), interaction.customer_id, WRITE)
    return render_template("interactions/show.html", interaction=interaction, may_write=may_write)


@bp.route("/<id:interaction_id>/edit", methods=["GET", "POST"])
@login_required
def edit(interaction_id: int):
    """Change an interaction of a customer the user may update."""
    interaction = interactions.get_interaction(interaction_id=interaction_id, user=signed_in())
    form = InteractionForm(obj=interaction)
    fill_customer_choices(form, action=WRITE, selected=interaction.customer_id)
    shown = url_for("interactions.show", interaction_id=interaction_id)
    if request.method == "GET" and not permissions.customer_in_scope(signed_in(), interaction.customer_id, WRITE):
        flash(gettext("您只能查看此交往记录，不能修改或删除"), "warning")
        return redirect(shown)
    return _page(form, interaction, None, done=lambda _: redirect_after(gettext("已保存修改"), shown),
                 save=lambda: interactions.update_interaction(interaction_id=interaction_id, user=signed_in(),
                                                              values=form.values()))


@bp.post("/<id:interaction_id>/delete")
@login_required
def delete(interaction_id: int):
    """Move an interaction to the recycle bin (confirmed in the page); back to its customer."""
    interaction = interactions.get_interaction(interaction_id=interaction_id, user=signed_in())
    customer_id = interaction.customer_id
    if not act(lambda: interactions.delete_interaction(interaction_id=interaction_id, user=signed_in()),
               success=gettext("交往记录已移入回收站")):
        return redirect(url_for("interactions.show", interaction_id=interaction_id))
    return redirect(back_to_customer(customer_id, url_for("interactions.index", customer_id=customer_id)))
