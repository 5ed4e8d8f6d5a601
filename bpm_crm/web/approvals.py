"""Approval actions from the task page (同意, 拒绝, 退回, 转交, 加签, 抄送, 评论, and the requester's 撤回 and 催办)
and batch approval from the inbox.

Each control posts here; a refusal shows the task page again with the control open and its errors, a task
that moved on (completed twice, withdrawn) goes back to the inbox with the reason.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.error_messages import translate
from bpm_crm.errors import Conflict, DomainError, Invalid
from bpm_crm.input_rules import parse_id
from bpm_crm.services import approval_trail, approvals, human_tasks, people
from bpm_crm.services.records import RECORDS
from bpm_crm.web.pages import signed_in
from bpm_crm.web.tasks import render_task

bp = Blueprint("approvals", __name__, url_prefix="/tasks")

# Conflicts that mean the task is no longer there to act on: the inbox, not the page again.
MOVED_ON = {"task_closed", "task_claimed"}



def _text(name: str) -> str:
    """A text field as typed, cut at the longest comment the services keep plus one (so they refuse it)."""
    return (request.form.get(name) or "").replace("\r\n", "\n")[:human_tasks.MAX_COMMENT + 1]


def _person(name: str) -> Any:
    """The colleague a form names by id; Invalid naming the field when it is missing, no id or nobody active."""
    person = people.get_user(parse_id(request.form.get(name)) or 0)
    if person is None or not person.active:
        message = gettext("请选择一位在职的同事")
        raise Invalid(message, {name: [message]}, code="colleague_required")
    return person


def _failed(task_id: int, form: str, exc: DomainError):
    """The task moved on: back to the inbox. Anything else: the task page with the control and its errors."""
    if isinstance(exc, Conflict) and (exc.code in MOVED_ON or form in ("decide", "return")):
        flash(translate(exc), "warning")
        return redirect(url_for("inbox.index", view="approvals"))
    task = human_tasks.get_task(task_id=task_id, user=signed_in())
    flash(translate(exc), "warning" if isinstance(exc, Conflict) else "danger")
    errors = {name: [translate(message) for message in messages]
              for name, messages in (exc.field_errors if isinstance(exc, Invalid) else {}).items()}
    return render_task(task, errors=errors, status=exc.status, approval_form=form,
                       approval_values=request.form.to_dict(flat=True))


def _act(task_id: int, form: str, action: Callable[[], Any], message: Callable[[Any], str], after: str | None = None):
    """Run one approval action; on success flash `message(result)` and go to `after` (default: the task page)."""
    try:
        result = action()
    except DomainError as exc:
        return _failed(task_id, form, exc)
    flash(message(result), "success")
    return redirect(after or url_for("tasks.show", task_id=task_id))


def _inbox() -> str:
    return url_for("inbox.index", view="approvals")


@bp.post("/<id:task_id>/decide")
@login_required
def decide(task_id: int):
    """同意 or 拒绝 (拒绝 needs the reason), with the comment."""
    decision = request.form.get("decision", "")

    def done(task: Any) -> str:
        if decision == "reject":
            return gettext("已拒绝“%(name)s”", name=task.name)
        return gettext("已同意“%(name)s”", name=task.name)

    return _act(task_id, "decide", lambda: approvals.decide(
        task_id=task_id, user=signed_in(), decision=decision, comment=_text("comment")), done, _inbox())


@bp.post("/<id:task_id>/return")
@login_required
def return_task(task_id: int):
    """退回: to the requester or to an earlier step of this request, with the reason."""
    return _act(task_id, "return", lambda: approvals.return_task(
        task_id=task_id, user=signed_in(), to=(request.form.get("to") or "")[:120], comment=_text("comment")),
        lambda _task: gettext("已退回"), _inbox())


@bp.post("/<id:task_id>/transfer")
@login_required
def transfer(task_id: int):
    """转交: a colleague decides instead of the approver."""
    def run() -> Any:
        target = _person("to_user_id")
        approvals.transfer(task_id=task_id, user=signed_in(), to_user_id=target.id, comment=_text("comment"))
        return target

    return _act(task_id, "transfer", run, lambda target: gettext("已转交给%(name)s", name=target.full_name),
                _inbox())


@bp.post("/<id:task_id>/add-signer")
@login_required
def add_signer(task_id: int):
    """加签: one more colleague approves, before the approver (his turn comes back) or after him."""
    before = request.form.get("position") == "before"

    def run() -> Any:
        target = _person("to_user_id")
        approvals.add_signer(task_id=task_id, user=signed_in(), to_user_id=target.id, before=before,
                             comment=_text("comment"))
        return target

    def done(target: Any) -> str:
        if before:
            return gettext("已加签：请%(name)s先审批，之后再由您审批", name=target.full_name)
        return gettext("已加签：您同意后由%(name)s审批", name=target.full_name)

    return _act(task_id, "add_signer", run, done, _inbox() if before else None)


def _people(name: str, user: Any) -> list[Any]:
    """Colleagues from a multiple choice; Invalid when none is chosen or one is not an active colleague."""
    raw = request.form.getlist(name)[:approvals.MAX_BATCH + 1]
    chosen = [parse_id(value) for value in raw]
    colleagues = {person.id: person for person in approval_trail.colleagues(user)}
    if not chosen or len(chosen) > approvals.MAX_BATCH or any(p is None or p not in colleagues for p in chosen):
        message = gettext("请选择在职的同事") if chosen else gettext("请选择抄送人")
        raise Invalid(message, {name: [message]}, code="colleague_required")
    return [colleagues[person] for person in dict.fromkeys(chosen) if person is not None]


@bp.post("/<id:task_id>/cc")
@login_required
def cc(task_id: int):
    """抄送: colleagues who then follow the request read-only."""
    user = signed_in()

    def run() -> list[Any]:
        chosen = _people("user_ids", user)
        approvals.cc(task_id=task_id, user=user, user_ids=[person.id for person in chosen])
        return chosen

    return _act(task_id, "cc", run, lambda chosen: gettext(
        "已抄送给%(names)s", names="、".join(person.full_name for person in chosen)))


@bp.post("/<id:task_id>/comment")
@login_required
def comment(task_id: int):
    """评论 on the request the task belongs to; @username tells a colleague who may see it."""
    user = signed_in()
    task = human_tasks.get_task(task_id=task_id, user=user)
    return _act(task_id, "comment", lambda: approvals.comment(instance_id=task.instance_id, user=user,
                                                              text=_text("text")),
                lambda _event: gettext("评论已发布"), url_for("tasks.show", task_id=task_id) + "#approval-trail")


@bp.post("/<id:task_id>/withdraw")
@login_required
def withdraw(task_id: int):
    """撤回 by the requester, while no approver has acted: the record's page afterwards."""
    user = signed_in()
    task = human_tasks.get_task(task_id=task_id, user=user)
    instance = task.instance
    record_type = RECORDS.find(instance.business_type)
    after = url_for("instances.show", instance_id=instance.id)
    if record_type is not None and record_type.endpoint and instance.business_id is not None:
        after = url_for(record_type.endpoint, **{record_type.id_arg: instance.business_id})
    return _act(task_id, "withdraw", lambda: approvals.withdraw(instance_id=instance.id, user=user,
                                                                reason=_text("reason")),
                lambda _instance: gettext("申请已撤回"), after)


@bp.post("/<id:task_id>/nudge")
@login_required
def nudge(task_id: int):
    """催办: remind the approvers waiting on the request (once an hour)."""
    user = signed_in()
    task = human_tasks.get_task(task_id=task_id, user=user)
    return _act(task_id, "nudge", lambda: approvals.nudge(instance_id=task.instance_id, user=user),
                lambda people: gettext("已提醒 %(count)s 位审批人", count=len(people)))


@bp.post("/batch-approve")
@login_required
def batch_approve():
    """批量同意 the approvals ticked on 待我审批, with one comment; then what succeeded and what did not."""
    user = signed_in()
    raw = request.form.getlist("task_ids")
    task_ids = [parse_id(value) for value in raw[:approvals.MAX_BATCH + 1]]
    if not task_ids or any(task_id is None for task_id in task_ids):
        flash(gettext("请先勾选要同意的审批") if not raw else gettext("所选任务无效，请刷新后重试"), "warning")
        return redirect(_inbox(), 303)
    try:
        results = approvals.decide_many(task_ids=[t for t in task_ids if t is not None], user=user,
                                        comment=_text("comment"))
    except Invalid as exc:
        flash(translate(exc), "danger")
        return redirect(_inbox(), 303)
    rows = []
    for result in results:
        try:
            task = human_tasks.get_task(task_id=result.task_id, user=user)
        except DomainError:
            task = None
        rows.append((result, task))
    return render_template("inbox/batch_result.html", rows=rows,
                           approved=sum(1 for result in results if result.ok),
                           refused=sum(1 for result in results if not result.ok))
