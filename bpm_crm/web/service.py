"""Service request pages (客户服务): list with filters, SLA figures and export; record (its process starts); the
request with its process, sign-off results, status trail, deadlines and history; 转办 and 催办; edit and delete
while 新创建."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm import clock
from bpm_crm.forms.service_request import ServiceRequestForm
from bpm_crm.input_rules import parse_id
from bpm_crm.models import ServiceRequest, ServiceStatus
from bpm_crm.services import (
    dictionary,
    human_tasks,
    instances,
    permissions,
    service_levels,
    service_requests,
    service_work,
)
from bpm_crm.services.records import RECORDS
from bpm_crm.web import exports
from bpm_crm.web.display import dictionary_label, status_label
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg

bp = Blueprint("service", __name__, url_prefix="/service")

STATUSES = [status.value for status in ServiceStatus]



def _filters() -> dict[str, Any]:
    status = request.args.get("status") or None
    kind = request.args.get("type") or None
    return {
        "q": (request.args.get("q") or "").strip()[:100] or None,
        "type": kind if kind in dictionary.choices(dictionary.SERVICE_TYPE) else None,
        "status": status if status in STATUSES else None,
        "customer_id": id_arg("customer_id"),
        "handler_id": id_arg("handler_id"),
        "overdue": request.args.get("overdue") == "1",
    }


def _choices(form: ServiceRequestForm, record: ServiceRequest | None) -> None:
    form.type.choices = [("", gettext("请选择"))] + [(t, dictionary_label(t)) for t in dictionary.choices(
        dictionary.SERVICE_TYPE)]
    customers = service_requests.customer_options(user=signed_in())
    if record is not None and all(c.id != record.customer_id for c in customers):
        customers.insert(0, record.customer)
    form.customer_id.choices = [("", gettext("请选择客户"))] + [
        (c.id, f"{c.name}（{c.number}）" if c.number else c.name) for c in customers]



@bp.get("/")
@login_required
def index():
    """The visible service requests, searched and filtered by type, status and customer, paged.

    No permission gate: the query's scope decides (a department head lists what he signs off, as in the API).
    """
    filters = _filters()
    page = service_requests.list_requests(user=signed_in(), **filters, page=page_arg(),
                                          per_page=current_app.config["PAGE_SIZE"])
    return render_template("service/index.html", page=page, statuses=STATUSES,
                           types=dictionary.choices(dictionary.SERVICE_TYPE),
                           handlers=service_requests.handler_options(user=signed_in()),
                           levels=service_requests.service_levels_of(user=signed_in(), **filters),
                           figures={r.id: service_levels.figures(r) for r in page.items},
                           late_steps=service_requests.with_late_step([r.id for r in page.items]),
                           ticket_kind=service_requests.ticket_kind, ticket_stage=service_requests.ticket_stage,
                           **filters)


@bp.get("/export")
@login_required
def export():
    """The filtered list as an Excel file (same scope and filters as the page)."""
    result = service_requests.list_requests(user=signed_in(), **_filters(), page=1, per_page=exports.MAX_EXPORT_ROWS)
    headers = [gettext("编号"), gettext("服务类型"), gettext("概要"), gettext("客户"), gettext("状态"),
               gettext("工单"), gettext("工单阶段"), gettext("创建人"), gettext("创建时间"), gettext("处理人"),
               gettext("满意度")]
    rows = ([r.number, gettext(r.type), r.summary, r.customer.name, status_label(r.status),
             gettext(service_requests.ticket_kind(r)), gettext(service_requests.ticket_stage(r)),
             r.created_by.full_name if r.created_by else "", r.created_at,
             r.handler.full_name if r.handler else "", r.satisfaction or ""] for r in result.items)
    return exports.xlsx_response(name=gettext("客户服务"), headers=headers, rows=rows)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Record a consultation, suggestion or complaint."""
    permissions.require(signed_in(), "service.create")
    form = ServiceRequestForm()
    if request.method == "GET":
        form.customer_id.data = id_arg("customer_id")
    _choices(form, None)
    return form_view(form, "service/form.html", record=None,
                     save=lambda: service_requests.create_request(
                         user=signed_in(), values={**form.values(), "answer": form.answer.data or ""}),
                     done=lambda record: redirect_after(gettext("客户服务 %(number)s 已创建", number=record.number),
                                                        url_for("service.show", request_id=record.id)))


@bp.get("/<id:request_id>")
@login_required
def show(request_id: int):
    """One service request: its process and where it stands, sign-off results, SLA figures, deadlines, history."""
    user = signed_in()
    record = service_requests.get_request(request_id=request_id, user=user)
    instance = service_requests.process_of(record)
    waiting = service_work.running_deadlines(record)
    return render_template(
        "service/show.html", record=record, may_change=service_requests.may_change(user, record),
        instance=instance, figures=service_levels.figures(record), rounds=service_work.sign_off_rounds(record),
        trail=service_work.status_trail(record), waiting=waiting,
        my_tasks=[task for task in waiting if human_tasks.actions(user, task)],
        history=instances.history(instance.id) if instance is not None else [],
        may_transfer=service_work.may_transfer(user, record),
        transfer_targets=service_work.transfer_targets(user, record), may_nudge=service_work.may_nudge(user, record),
        record_type=RECORDS.get("service_request"), now=clock.utcnow_naive(),
        ticket_kind=service_requests.ticket_kind(record), ticket_stage=service_requests.ticket_stage(record),
        ticket_stages=service_requests.ticket_stages(record))


@bp.post("/<id:request_id>/transfer")
@login_required
def transfer(request_id: int):
    """转办: the handling goes to another handler, who is told at once."""
    act(lambda: service_work.transfer(request_id=request_id, user=signed_in(),
                                      to_user_id=parse_id(request.form.get("to_user_id")) or 0,
                                      comment=request.form.get("comment")),
        success=gettext("已转办"))
    return redirect(url_for("service.show", request_id=request_id))


@bp.post("/<id:request_id>/nudge")
@login_required
def nudge(request_id: int):
    """催办: remind whoever the request waits for."""
    act(lambda: service_work.nudge(request_id=request_id, user=signed_in()),
        success=lambda people: gettext("已催办 %(count)s 人", count=len(people)))
    return redirect(url_for("service.show", request_id=request_id))


@bp.route("/<id:request_id>/edit", methods=["GET", "POST"])
@login_required
def edit(request_id: int):
    """Change a request while it is 新创建 (its creator or service staff)."""
    record = service_requests.get_request(request_id=request_id, user=signed_in())
    form = ServiceRequestForm(obj=record)
    _choices(form, record)
    shown = url_for("service.show", request_id=request_id)
    if request.method == "GET" and not service_requests.may_change(signed_in(), record):
        flash(gettext("只有新创建的客户服务可以由创建人或客服处理人员修改"), "warning")
        return redirect(shown)
    return form_view(form, "service/form.html", record=record,
                     save=lambda: service_requests.update_request(request_id=request_id, user=signed_in(),
                                                                  values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存修改"), shown))


@bp.post("/<id:request_id>/delete")
@login_required
def delete(request_id: int):
    """Move a 新创建 request to the recycle bin (after the confirmation dialog)."""
    record = service_requests.get_request(request_id=request_id, user=signed_in())
    number = record.number
    if act(lambda: service_requests.delete_request(request_id=request_id, user=signed_in()),
           success=gettext("客户服务 %(number)s 已移入回收站", number=number)):
        return redirect(url_for("service.index"))
    return redirect(url_for("service.show", request_id=request_id))
