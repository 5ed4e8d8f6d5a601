"""The task inbox (待办): list, read, claim, release, complete, save drafts, reassign and copy user tasks."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import bool_arg, choice_arg, json_object, paging, text_arg, text_field
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import HumanTask, User
from bpm_crm.services import approval_trail, approvals, human_tasks, inbox
from bpm_crm.services.records import RECORDS

MAX_WATCHERS = 50


def _approval(row: HumanTask, user: User) -> dict[str, Any] | None:
    """An approval task's step, the approval actions open to the caller, and what changed since he last decided."""
    step = approvals.step_of(row)
    if step is None:
        return None
    changes = approval_trail.changes_for(row, user)
    return {"step": step, "actions": approvals.actions(user, row),
            "changes_since_seen": None if changes is None else [schemas.change(item) for item in changes]}


def detail(row: HumanTask, user: User) -> Response:
    """A task as the caller sees it now: form, record, allowed actions and, for an approval, its state."""
    form = human_tasks.form_for(row, user)
    record = RECORDS.serialize(row.instance.business_type, human_tasks.task_record(row))
    return jsonify(schemas.task_detail(row, record=record, form=form, actions=human_tasks.actions(user, row),
                                       approval=_approval(row, user)))


def _form_data(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if data is None:
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("必填"))]})
    if not isinstance(data, dict):
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("应为对象"))]})
    return data


def _comment(payload: dict[str, Any]) -> str | None:
    return text_field(payload, "comment", human_tasks.MAX_COMMENT)


def _user_id(value: Any, field: str) -> int:
    user_id = parse_id(value)
    if user_id is None:
        raise Invalid(str(_("请更正标出的字段")), {field: [str(_("应为记录编号（整数）"))]})
    return user_id


@bp.get("/tasks")
def list_tasks() -> Response:
    """One page of the caller's inbox view (mine, claimable, watched or done) with the tab counts."""
    user = current_user()
    page, per_page = paging()
    result = inbox.list_tasks(
        user=user, view=choice_arg("view", inbox.VIEWS, default="mine") or "mine",
        process_id=text_arg("process_id"), overdue=bool_arg("overdue"), page=page, per_page=per_page,
    )
    return jsonify({**schemas.page(result, schemas.task), "counts": schemas.counts(inbox.counts(user=user))})


@bp.get("/tasks/<id:task_id>")
def get_task(task_id: int) -> Response:
    """A task with its form definition, the data and options it opens with, its record and allowed actions."""
    user = current_user()
    return detail(human_tasks.get_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/claim")
def claim_task(task_id: int) -> Response:
    """Take a task offered to the caller."""
    user = current_user()
    return detail(human_tasks.claim_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/release")
def release_task(task_id: int) -> Response:
    """Give a claimed task back to its candidates."""
    user = current_user()
    return detail(human_tasks.release_task(task_id=task_id, user=user), user)


@bp.post("/tasks/<id:task_id>/complete")
def complete_task(task_id: int) -> Response:
    """Complete a task with its form data and an optional comment; the process runs on."""
    user = current_user()
    payload = json_object()
    data, comment = _form_data(payload), _comment(payload)
    return detail(human_tasks.complete_task(task_id=task_id, user=user, data=data, comment=comment), user)


@bp.post("/tasks/<id:task_id>/draft")
def save_draft(task_id: int) -> Response:
    """Keep a task's form data as a draft without completing it."""
    user = current_user()
    payload = json_object()
    return detail(human_tasks.save_draft(task_id=task_id, user=user, data=_form_data(payload)), user)


@bp.post("/tasks/<id:task_id>/reassign")
def reassign_task(task_id: int) -> Response:
    """Hand an open task to someone in the caller's scope (转派); later steps and the record follow."""
    user = current_user()
    payload = json_object()
    assignee_id = _user_id(payload.get("assignee_id"), "assignee_id")
    return detail(human_tasks.reassign_task(task_id=task_id, user=user, assignee_id=assignee_id,
                                             comment=_comment(payload)), user)


@bp.post("/tasks/<id:task_id>/watchers")
def add_watchers(task_id: int) -> Response:
    """Copy people on a task (抄送): they see it and its record read-only."""
    user = current_user()
    payload = json_object()
    raw = payload.get("user_ids")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_WATCHERS:
        raise Invalid(str(_("请更正标出的字段")), {"user_ids": [str(_("应为用户编号的列表"))]})
    ids = [_user_id(value, "user_ids") for value in raw]
    return detail(human_tasks.add_watchers(task_id=task_id, user=user, user_ids=ids), user)
