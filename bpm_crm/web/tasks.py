"""The task page: a user task's form, its record, diagram and history; claim, release, save, complete, reassign.

An approval step's task shows the approver's controls instead (同意, 拒绝, and 退回, 转交, 加签, 抄送 under 更多),
what changed since he last decided, and the request's approval timeline; those actions post to
bpm_crm.web.approvals, which renders this page again when one of them is refused.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from jinja2 import TemplateNotFound

from bpm_crm.error_messages import translate
from bpm_crm.errors import Conflict, DomainError, Invalid
from bpm_crm.models import HumanTask, TaskStatus
from bpm_crm.services import approval_trail, approvals, human_tasks, inbox, instances
from bpm_crm.services.records import RECORDS, RecordType
from bpm_crm.web import kept_forms
from bpm_crm.web.form_data import from_formdata
from bpm_crm.web.pages import signed_in

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

MAX_FORM_DATA = 300 * 1024



# The fields of the shipped approval form: a step with only these gets the explicit 同意/拒绝 controls.
DECISION_FIELDS = {"decision", "comment"}


def _summary_template(record_type: RecordType | None) -> str | None:
    """The partial summarising the record: the one its type declares, else records/<key>.html if it exists."""
    if record_type is None:
        return None
    name = record_type.summary_template or f"records/{record_type.key}.html"
    try:
        current_app.jinja_env.get_template(name)
    except TemplateNotFound:
        return None
    return name


def _approval(task: HumanTask, user: Any, form: human_tasks.TaskForm, failed: str | None,
              errors: dict[str, list[str]] | None, values: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the approval parts of the page need, when the task is an approval step's."""
    if approvals.step_of(task) is None:
        return None
    allowed = approvals.actions(user, task)
    keys = {".".join(one.path) for one in form.schema.walk() if one.path} if form.schema else set()
    instance = task.instance
    return {
        "actions": allowed,
        "explicit": keys <= DECISION_FIELDS,  # a step with a form of its own keeps that form for deciding
        "changes": approval_trail.changes_for(task, user),
        "trail": approval_trail.trail(instance.id),
        "waiting": approval_trail.waiting(instance.id),
        "return_targets": approval_trail.return_targets(task) if "return" in allowed else [],
        "colleagues": approval_trail.colleagues(user) if {"transfer", "add_signer", "cc"} & set(allowed) else [],
        "requester": instance.started_by,
        "failed": failed,
        "errors": errors or {},
        "submitted": values or {},
    }


def render_task(task: HumanTask, *, values: dict[str, Any] | None = None,
                errors: dict[str, list[str]] | None = None, comment: str = "", status: int = 200,
                approval_form: str | None = None, approval_values: dict[str, Any] | None = None):
    """The task page; `approval_form` names the approval control whose submission `errors` belong to."""
    user = signed_in()
    instance = task.instance
    allowed = human_tasks.actions(user, task)
    form = human_tasks.form_for(task, user)
    record_type = RECORDS.find(instance.business_type)
    steps = instances.instance_tasks(instance.id)
    definition = form.definition
    approval = _approval(task, user, form, approval_form, errors if approval_form else None, approval_values)
    return render_template(
        "tasks/show.html",
        task=task,
        instance=instance,
        record=human_tasks.task_record(task),
        record_type=record_type,
        summary_template=_summary_template(record_type),
        approval=approval,
        form_spec={
            "schema": definition, "data": {**form.data, **(values or {})}, "errors": errors or {},
            "readonly": "complete" not in allowed,
        } if definition and not (approval and approval["explicit"]) else None,
        error_labels=_error_labels(form.schema, {} if approval_form else errors or {}),
        comment=comment,
        is_open=task.status == TaskStatus.OPEN,
        overdue=inbox.is_overdue(task),
        actions=allowed,
        reassign_choices=human_tasks.reassign_targets(user, task) if "reassign" in allowed else [],
        watchers=[watcher.user for watcher in task.watchers],
        history=instances.history(instance.id),
        diagram_data={
            "xml": instance.definition.bpmn_xml,
            "current": [t.bpmn_id for t in steps if t.status == TaskStatus.OPEN],
            "done": [t.bpmn_id for t in steps if t.status == TaskStatus.COMPLETED],
        },
    ), status


def _error_labels(schema: Any, errors: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """(path, readable field name, messages) for the summary above the form."""
    labels: dict[str, str] = {}
    if schema is not None:
        for one in schema.walk():
            if one.path:
                labels[".".join(one.path)] = one.label
    rows = []
    for path, messages in errors.items():
        parts = path.split(".")
        if len(parts) == 3 and parts[1].isdigit():
            name = gettext("%(list)s 第 %(row)s 行 · %(field)s", list=labels.get(parts[0], parts[0]),
                           row=int(parts[1]) + 1, field=labels.get(parts[2], parts[2]))
        else:
            name = labels.get(path, path)
        rows.append((path, name, messages))
    return rows


def _submitted() -> tuple[Any, str | None]:
    """The form's data (JSON from the page's script, or plain fields) and the comment."""
    comment = (request.form.get("comment") or "").strip() or None  # its length is the service's to check
    raw = request.form.get("form_data")
    if raw is None:
        data = from_formdata(request.form)
        data.pop("comment", None)
        data.pop("form_data", None)
        return data, comment
    if len(raw) > MAX_FORM_DATA:
        raise Invalid(gettext("提交的内容过大"), {"data": [gettext("提交的内容过大")]})
    try:
        return json.loads(raw), comment
    except (ValueError, RecursionError):
        raise Invalid(gettext("请更正标出的字段"), {"data": [gettext("内容无法识别")]}) from None


def _failed(task_id: int, exc: DomainError, values: Any = None, comment: str | None = None):
    """The task moved on: back to the inbox. Anything else: the page again, with the errors."""
    if isinstance(exc, Conflict):
        flash(translate(exc), "warning")
        return redirect(url_for("inbox.index"))
    flash(translate(exc), "danger")
    task = human_tasks.get_task(task_id=task_id, user=signed_in())
    return render_task(task, values=values if isinstance(values, dict) else None,
                       errors=exc.field_errors if isinstance(exc, Invalid) else None, comment=comment or "",
                       status=exc.status)


@bp.get("/<id:task_id>")
@login_required
def show(task_id: int):
    """The task page; with what the user typed before his session ran out, if it was kept."""
    task = human_tasks.get_task(task_id=task_id, user=signed_in())
    for action in (url_for("tasks.complete", task_id=task_id), url_for("tasks.save", task_id=task_id)):
        values = kept_forms.kept_json(action, "form_data")
        if isinstance(values, dict):
            return render_task(task, values=values, comment=kept_forms.kept_values(action).get("comment", ""))
    return render_task(task)


@bp.post("/<id:task_id>/claim")
@login_required
def claim(task_id: int):
    """Take an offered task."""
    try:
        human_tasks.claim_task(task_id=task_id, user=signed_in())
    except DomainError as exc:
        return _failed(task_id, exc)
    flash(gettext("已认领，此任务现在在您的待办中"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<id:task_id>/release")
@login_required
def release(task_id: int):
    """Give a claimed task back to its candidates."""
    try:
        human_tasks.release_task(task_id=task_id, user=signed_in())
    except DomainError as exc:
        return _failed(task_id, exc)
    flash(gettext("任务已释放，同组同事可以认领"), "info")
    return redirect(url_for("inbox.index"))


@bp.post("/<id:task_id>/save")
@login_required
def save(task_id: int):
    """Keep the form as a draft without completing the task."""
    data, comment = None, None
    taking = human_tasks.get_task(task_id=task_id, user=signed_in()).assignee_id is None
    try:
        data, comment = _submitted()
        human_tasks.save_draft(task_id=task_id, user=signed_in(), data=data)
    except DomainError as exc:
        return _failed(task_id, exc, data, comment)
    flash(gettext("已保存，此任务现在由您处理") if taking else gettext("已保存"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<id:task_id>/complete")
@login_required
def complete(task_id: int):
    """Complete the task with the form's data; the process runs on to its next step."""
    user = signed_in()
    data, comment = None, None
    try:
        data, comment = _submitted()
        task = human_tasks.complete_task(task_id=task_id, user=user, data=data, comment=comment)
    except DomainError as exc:
        return _failed(task_id, exc, data, comment)
    flash(gettext("“%(name)s”已提交", name=task.name), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/<id:task_id>/reassign")
@login_required
def reassign(task_id: int):
    """Hand the task to someone else (转派)."""
    assignee_id = request.form.get("assignee_id", type=int)
    comment = (request.form.get("comment") or "").strip() or None  # its length is the service's to check
    if assignee_id is None:
        message = gettext("请选择转派对象")
        return _failed(task_id, Invalid(message, {"reassign_assignee_id": [message]}))
    try:
        human_tasks.reassign_task(task_id=task_id, user=signed_in(), assignee_id=assignee_id, comment=comment)
    except DomainError as exc:
        if isinstance(exc, Invalid) and "assignee_id" in exc.field_errors:
            exc.field_errors["reassign_assignee_id"] = exc.field_errors.pop("assignee_id")
        return _failed(task_id, exc)
    flash(gettext("任务已转派"), "success")
    return redirect(url_for("inbox.index"))
