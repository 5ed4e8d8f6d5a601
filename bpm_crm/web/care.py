"""Care task pages (客户关怀): list with due filters (overdue highlighted), create, detail, edit, 完成, delete."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.forms.care import CareDoneForm, CareTaskForm
from bpm_crm.i18n import _
from bpm_crm.models import Customer
from bpm_crm.services import care, dictionary, human_tasks, permissions
from bpm_crm.web import exports
from bpm_crm.web.customer_records import (
    after_create,
    back_to_customer,
    filtered_customer,
    locked_customer,
    new_record_customer,
)
from bpm_crm.web.display import dictionary_label
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg, text_arg

bp = Blueprint("care", __name__, url_prefix="/care")

WRITE = care.WRITE
REFUSED = "您只能查看此客户，不能为其安排客户关怀"
DUE_LABELS = {"open": _("未完成"), "overdue": _("已逾期"), "week": _("本周到期"), "done": _("已完成")}


def _filters() -> dict:
    kind, due = request.args.get("kind") or None, request.args.get("due") or None
    return {"q": text_arg("q"), "customer_id": id_arg("customer_id"),
            "kind": kind if kind in dictionary.choices(dictionary.CARE_KIND) else None,
            "due": due if due in care.DUE_FILTERS else None,
            "assignee_id": signed_in().id if request.args.get("mine") else None}


def _prepare(form: CareTaskForm, customer: Customer | None, assignee_id: int | None) -> None:
    """Choices of the selects: kinds from the dictionary, the customer's contacts, possible assignees."""
    form.kind.choices = [("", str(_("请选择")))] + [(kind, dictionary_label(kind))
                                                  for kind in dictionary.choices(dictionary.CARE_KIND)]
    contacts = care.contact_choices(customer_id=customer.id) if customer else []
    form.contact_id.choices = [("", str(_("不指定联系人")))] + contacts
    people = care.assignee_choices(user=signed_in(), include_id=assignee_id)
    form.assignee_id.choices = [("", str(_("默认：客户的客户经理")))] + people


@bp.get("/")
@login_required
def index():
    """Visible care tasks: open ones by due date with the overdue ones highlighted; filters and paging."""
    filters = _filters()
    customer = filtered_customer(filters["customer_id"])
    page = care.list_care_tasks(user=signed_in(), **filters, page=page_arg(),
                                per_page=current_app.config["PAGE_SIZE"])
    return render_template("care/index.html", page=page, filters=filters, customer=customer,
                           kinds=dictionary.choices(dictionary.CARE_KIND), due_labels=DUE_LABELS,
                           is_overdue=care.is_overdue, may_write=permissions.can(signed_in(), WRITE))


@bp.get("/export.xlsx")
@login_required
def export():
    """The care tasks of the current search and filters as an Excel file."""
    rows = care.export_care_tasks(user=signed_in(), limit=exports.MAX_EXPORT_ROWS, **_filters())
    headers = [gettext("客户编号"), gettext("客户名称"), gettext("联系人"), gettext("关怀类型"), gettext("关怀主题"),
               gettext("到期日期"), gettext("负责人"), gettext("完成人"), gettext("完成时间"), gettext("备注")]
    return exports.xlsx_response(name=gettext("客户关怀"), headers=headers, rows=(
        [t.customer.number, t.customer.name, t.contact.name if t.contact else None, t.kind, t.title, t.due_date,
         t.assignee.full_name if t.assignee else None, t.done_by.full_name if t.done_by else None,
         t.done_at, t.note] for t in rows))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Plan a care task; opened from a customer (or contact) page the customer is fixed and saving returns there."""
    locked = locked_customer(action=WRITE, refused=REFUSED)
    form = CareTaskForm(contact_id=id_arg("contact_id"))
    new_record_customer(form, action=WRITE, locked=locked)
    _prepare(form, locked, None)
    return form_view(form, "care/form.html", task=None, locked=locked,
                     save=lambda: care.create_care_task(user=signed_in(), values=form.values()),
                     done=lambda task: redirect_after(gettext("已安排客户关怀“%(title)s”", title=task.title),
                                                      after_create(locked, url_for("care.show", care_task_id=task.id))))


@bp.get("/<id:care_task_id>")
@login_required
def show(care_task_id: int):
    """One care task: who, what, when due, done by whom; the 完成 form while open."""
    task = care.get_care_task(care_task_id=care_task_id, user=signed_in())
    may_write = permissions.customer_in_scope(signed_in(), task.customer_id, WRITE)
    step = care.open_task(task)
    return render_template("care/show.html", task=task, may_write=may_write, done_form=CareDoneForm(),
                           overdue=care.is_overdue(task), step=step, rule_name=care.rule_name(task),
                           step_visible=step is not None and human_tasks.may_see_task(signed_in(), step))


@bp.route("/<id:care_task_id>/edit", methods=["GET", "POST"])
@login_required
def edit(care_task_id: int):
    """Change a care task (its customer stays)."""
    task = care.get_care_task(care_task_id=care_task_id, user=signed_in())
    form = CareTaskForm(obj=task)
    form.customer_id.choices = [(task.customer_id, task.customer.name)]
    _prepare(form, task.customer, task.assignee_id)
    form.customer_id.data = task.customer_id
    shown = url_for("care.show", care_task_id=care_task_id)
    if request.method == "GET" and not permissions.customer_in_scope(signed_in(), task.customer_id, WRITE):
        flash(gettext("您只能查看此关怀任务，不能处理或修改"), "warning")
        return redirect(shown)
    return form_view(form, "care/form.html", task=task, locked=task.customer,
                     save=lambda: care.update_care_task(care_task_id=care_task_id, user=signed_in(),
                                                        values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存修改"), shown))


@bp.post("/<id:care_task_id>/done")
@login_required
def done(care_task_id: int):
    """Mark the care as given; a second click is told who already did it."""
    form = CareDoneForm()
    form.validate()
    act(lambda: care.mark_done(care_task_id=care_task_id, user=signed_in(), note=form.note.data),
        success=gettext("已标记为完成"))
    return redirect(url_for("care.show", care_task_id=care_task_id))


@bp.post("/<id:care_task_id>/delete")
@login_required
def delete(care_task_id: int):
    """Move a care task to the recycle bin (confirmed in the page); back to its customer."""
    task = care.get_care_task(care_task_id=care_task_id, user=signed_in())
    customer_id = task.customer_id
    if not act(lambda: care.delete_care_task(care_task_id=care_task_id, user=signed_in()),
               success=gettext("关怀任务已移入回收站")):
        return redirect(url_for("care.show", care_task_id=care_task_id))
    return redirect(back_to_customer(customer_id, url_for("care.index", customer_id=customer_id)))
