"""The task inbox (待办): list, read, claim, release, complete and save drafts of user tasks."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import bool_arg, choice_arg, json_object, paging, text_arg
from bpm_crm.errors import Invalid
from bpm_crm.forms.tasks import TASK_FORMS
from bpm_crm.i18n import _
from bpm_crm.models import HumanTask, TaskStatus, User
from bpm_crm.services import inbox, workflow

MAX_COMMENT = 2000


def _actions(row: HumanTask, user: User) -> list[str]:
    """What the caller may do to the task now."""
    if row.status != TaskStatus.OPEN:
        return []
    actions = []
    claimable = workflow.can_claim(user, row)
    if claimable:
        actions.append("claim")
    if workflow.can_release(user, row):
        actions.append("release")
    if row.assignee_id == user.id or claimable:
        form = TASK_FORMS.get(row.form_key or "")
        actions += ["complete", "draft"] if form is not None and form.draft_handler else ["complete"]
    return actions


def _detail(row: HumanTask, user: User) -> Response:
    context = workflow.form_context(row, user)
    choices = context.choices if row.status == TaskStatus.OPEN else {}
    return jsonify(schemas.task_detail(row, business=context.record, choices=choices,
                                       actions=_actions(row, user)))


def _form_data(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if data is None:
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("必填"))]})
    if not isinstance(data, dict):
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("应为对象"))]})
    return data


def _comment(payload: dict[str, Any]) -> str | None:
    comment = payload.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise Invalid(str(_("请更正标出的字段")),
                      {"comment": [str(_("应为不超过 %(limit)s 字的文本", limit=MAX_COMMENT))]})
    return (comment.strip() or None) if comment else None


@bp.get("/tasks")
def list_tasks() -> Response:
    """One page of the caller's inbox view (mine, claimable or done) with the tab counts."""
    user = current_user()
    page, per_page = paging()
    result = inbox.list_tasks(
        user=user, view=choice_arg("view", inbox.VIEWS, default="mine") or "mine",
        process_id=text_arg("process_id"), overdue=bool_arg("overdue"), page=page, per_page=per_page,
    )
    return jsonify({**schemas.page(result, schemas.task), "counts": schemas.counts(inbox.counts(user=user))})


@bp.get("/tasks/<id:task_id>")
def get_task(task_id: int) -> Response:
    """A task with its form key, draft, business record, form choices and allowed actions."""
    user = current_user()
    return _detail(workflow.get_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/claim")
def claim_task(task_id: int) -> Response:
    """Take a task offered to one of the caller's roles."""
    user = current_user()
    return _detail(workflow.claim_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/release")
def release_task(task_id: int) -> Response:
    """Give a claimed task back to its candidate role."""
    user = current_user()
    return _detail(workflow.release_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/complete")
def complete_task(task_id: int) -> Response:
    """Complete a task with its form data and an optional comment; the process runs on."""
    user = current_user()
    payload = json_object()
    data, comment = _form_data(payload), _comment(payload)
    return _detail(workflow.complete_task(task_id=task_id, user=user, data=data, comment=comment), user)


@bp.post("/tasks/<id:task_id>/draft")
def save_draft(task_id: int) -> Response:
    """Save a task's form data without completing it."""
    user = current_user()
    payload = json_object()
    return _detail(workflow.save_draft(task_id=task_id, user=user, data=_form_data(payload)), user)
