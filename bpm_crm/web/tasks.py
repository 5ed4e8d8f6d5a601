"""The task page: a user task's form, its record, diagram and history; claim, release, save, complete, reassign."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from bpm_crm.errors import Conflict, DomainError, Invalid
from bpm_crm.forms.tasks import DECISIONS, TASK_FORMS, from_formdata
from bpm_crm.models import HumanTask, TaskStatus
from bpm_crm.services import inbox, people, permissions, workflow
from bpm_crm.web import task_forms
from bpm_crm.web.domain_messages import translate

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def _user():
    return current_user._get_current_object()


def _render(task: HumanTask, *, values: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None, status: int = 200):
    user = _user()
    instance = task.instance
    context = workflow.form_context(task, user)
    is_open = task.status == TaskStatus.OPEN
    # Reassigning hands a task to another holder of its role, within the supervisor's scope.
    may_reassign = bool(is_open and task.candidate_role
                        and permissions.in_scope(user, "task.reassign", [task.scope_user_id]))
    reassign_choices = [
        other for other in people.active_users_with_role(user, task.candidate_role or "", "task.reassign")
        if other.id not in (user.id, task.assignee_id)
    ] if may_reassign else []
    steps = workflow.instance_tasks(instance.id)
    return render_template(
        "tasks/show.html",
        task=task,
        instance=instance,
        record=context.record,
        choices=context.choices,
        form=TASK_FORMS.get(task.form_key or ""),
        decisions=DECISIONS,
        values=task_forms.form_values(task.draft, values),
        plan_rows=task_forms.plan_rows(context.record, values),
        result_rows=task_forms.result_rows(context.record, values),
        errors=errors or {},
        is_open=is_open,
        overdue=inbox.is_overdue(task),
        may_act=is_open and (task.assignee_id == user.id or workflow.can_claim(user, task)),
        may_claim=workflow.can_claim(user, task),
        may_release=workflow.can_release(user, task),
        may_reassign=bool(reassign_choices),
        reassign_choices=reassign_choices,
        history=workflow.history(instance.id),
        diagram_data={
            "xml": instance.definition.bpmn_xml,
            "current": [t.bpmn_id for t in steps if t.status == TaskStatus.OPEN],
            "done": [t.bpmn_id for t in steps if t.status == TaskStatus.COMPLETED],
        },
    ), status


def _submitted() -> tuple[dict[str, Any], str | None]:
    data = from_formdata(request.form)
    comment = str(data.pop("comment", "") or "").strip()[:2000] or None
    return data, comment


def _failed(task_id: int, exc: DomainError, values: dict[str, Any] | None = None):
    """The task moved on: back to the inbox. Anything else: the page again, with the errors."""
    if isinstance(exc, Conflict):
        flash(translate(exc.message), "warning")
        return redirect(url_for("inbox.index"))
    flash(translate(exc.message), "danger")
    task = workflow.get_task(task_id=task_id, user=_user())
    return _render(task, values=values, errors=exc.field_errors if isinstance(exc, Invalid) else None,
                   status=exc.status)


@bp.get("/<int:task_id>")
@login_required
def show(task_id: int):
    """The task page."""
    return _render(workflow.get_task(task_id=task_id, user=_user()))


@bp.post("/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    """Take an offered task."""
    try:
        workflow.claim_task(task_id=task_id, user=_user())
    except DomainError as exc:
        return _failed(task_id, exc)
    flash(gettext("已认领，此任务现在在您的待办中"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<int:task_id>/release")
@login_required
def release(task_id: int):
    """Give a claimed task back to the group."""
    try:
        workflow.release_task(task_id=task_id, user=_user())
    except DomainError as exc:
        return _failed(task_id, exc)
    flash(gettext("任务已释放，同组同事可以认领"), "info")
    return redirect(url_for("inbox.index"))


@bp.post("/<int:task_id>/save")
@login_required
def save(task_id: int):
    """Save the form without completing the task."""
    data, comment = _submitted()
    try:
        workflow.save_draft(task_id=task_id, user=_user(), data=data)
    except DomainError as exc:
        return _failed(task_id, exc, {**data, "comment": comment or ""})
    flash(gettext("已保存"), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<int:task_id>/complete")
@login_required
def complete(task_id: int):
    """Complete the task with the form's data; the process runs on to its next step."""
    user = _user()
    name = workflow.get_task(task_id=task_id, user=user).name
    data, comment = _submitted()
    try:
        workflow.complete_task(task_id=task_id, user=user, data=data, comment=comment)
    except DomainError as exc:
        return _failed(task_id, exc, {**data, "comment": comment or ""})
    flash(gettext("“%(name)s”已提交", name=name), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/<int:task_id>/reassign")
@login_required
def reassign(task_id: int):
    """A supervisor hands the task to someone else."""
    assignee_id = request.form.get("assignee_id", type=int)
    comment = (request.form.get("comment") or "").strip()[:2000] or None
    if assignee_id is None:
        message = gettext("请选择转派对象")
        return _failed(task_id, Invalid(message, {"reassign_assignee_id": [message]}))
    try:
        workflow.reassign_task(task_id=task_id, user=_user(), assignee_id=assignee_id, comment=comment)
    except DomainError as exc:
        return _failed(task_id, exc)
    flash(gettext("任务已转派"), "success")
    return redirect(url_for("inbox.index"))
