"""Sales opportunity pages: list, create, detail, edit and delete while 未指派."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from bpm_crm.forms.opportunity import OpportunityForm
from bpm_crm.models import Opportunity, OpportunityStatus, TaskStatus
from bpm_crm.services import human_tasks, instances, opportunities
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import page_arg

bp = Blueprint("opportunities", __name__, url_prefix="/opportunities")

STATUSES = [status.value for status in OpportunityStatus]



def may_change(opportunity: Opportunity) -> bool:
    """Edit and delete are offered to the creator while the opportunity is 未指派."""
    return opportunity.status == OpportunityStatus.UNASSIGNED and opportunity.created_by_id == current_user.id



@bp.get("/")
@login_required
def index():
    """The visible opportunities, searched, filtered by status, paged."""
    status = request.args.get("status") or None
    page = opportunities.list_opportunities(
        user=signed_in(),
        q=(request.args.get("q") or "").strip()[:100] or None,
        status=status if status in STATUSES else None,
        page=page_arg(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template("opportunities/index.html", page=page, statuses=STATUSES, status=status)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Record a new opportunity; its assignment process starts at once."""
    form = OpportunityForm()
    return form_view(form, "opportunities/form.html", opportunity=None,
                     save=lambda: opportunities.create_opportunity(user=signed_in(), values=form.values()),
                     done=lambda opportunity: redirect_after(
                         gettext("销售机会 %(number)s 已创建，已提交销售主管指派", number=opportunity.number),
                         url_for("opportunities.show", opportunity_id=opportunity.id)))


@bp.get("/<id:opportunity_id>")
@login_required
def show(opportunity_id: int):
    """Everything about one opportunity: fields, plan, customer, process history and open task."""
    user = signed_in()
    opportunity = opportunities.get_opportunity(opportunity_id=opportunity_id, user=user)
    history, open_tasks, definition_id = [], [], None
    if opportunity.process_instance_id:
        history = instances.history(opportunity.process_instance_id)
        open_tasks = [t for t in instances.instance_tasks(opportunity.process_instance_id)
                      if t.status == TaskStatus.OPEN and human_tasks.may_see_task(user, t)]
        definition_id = next((instance.definition_id for instance in instances.instances_of(
            "opportunity", opportunity.id) if instance.id == opportunity.process_instance_id), None)
    return render_template("opportunities/show.html", opportunity=opportunity, history=history,
                           open_tasks=open_tasks, may_change=may_change(opportunity), definition_id=definition_id)


@bp.route("/<id:opportunity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(opportunity_id: int):
    """Change an opportunity while it is 未指派 (its creator only)."""
    opportunity = opportunities.get_opportunity(opportunity_id=opportunity_id, user=signed_in())
    form = OpportunityForm(obj=opportunity)
    shown = url_for("opportunities.show", opportunity_id=opportunity_id)
    if request.method == "GET" and not may_change(opportunity):
        flash(gettext("只有创建人可以在未指派时修改此销售机会"), "warning")
        return redirect(shown)
    return form_view(form, "opportunities/form.html", opportunity=opportunity,
                     save=lambda: opportunities.update_opportunity(opportunity_id=opportunity_id, user=signed_in(),
                                                                   values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存修改"), shown))


@bp.post("/<id:opportunity_id>/delete")
@login_required
def delete(opportunity_id: int):
    """Delete an opportunity (creator only, while 未指派); the confirmation happens in the page."""
    opportunity = opportunities.get_opportunity(opportunity_id=opportunity_id, user=signed_in())
    number = opportunity.number
    if act(lambda: opportunities.delete_opportunity(opportunity_id=opportunity_id, user=signed_in()),
           success=gettext("销售机会 %(number)s 已删除", number=number)):
        return redirect(url_for("opportunities.index"))
    return redirect(url_for("opportunities.show", opportunity_id=opportunity_id))
