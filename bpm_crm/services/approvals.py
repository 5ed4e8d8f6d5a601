"""What people do with approval steps (审批): decide, return, transfer, add a signer, copy, comment,
withdraw, nudge, and approve several at once — each action in the history with its comment.

An approval step is a user task the diagram marks as such (see bpm_crm.engine.approval); each
approver has his own inbox row. Deciding completes his row with a vote; the step's completion
condition and tally turn the votes into the step's outcome.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.engine.approval import vote_variable
from bpm_crm.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import HumanTask, InstanceStatus, Notification, ProcessEvent, ProcessInstance, TaskStatus, User
from bpm_crm.services import definitions, human_tasks, instances
from bpm_crm.services.transaction import unit_of_work

DECISIONS = ("approve", "reject")
NUDGE_INTERVAL = timedelta(hours=1)
MAX_BATCH = 100
_MENTION = re.compile(r"@([A-Za-z0-9_.\-@]{2,60})")


step_of = human_tasks.approval_step  # the approval step a task belongs to, or None for an ordinary task


def step_mode(task: HumanTask) -> str:
    step = definitions.version(task.instance.definition_id).parsed.approval_steps.get(task.bpmn_id)
    return step.mode if step is not None else "sequential"


def is_requester(user: User, instance: ProcessInstance) -> bool:
    return instance.started_by_id == user.id


def actions(user: User, task: HumanTask) -> list[str]:
    """The approval actions open to the user on this task (beside claim/complete and the like)."""
    if task.status != TaskStatus.OPEN or step_of(task) is None:
        return []
    allowed = []
    if task.assignee_id == user.id:
        allowed += ["approve", "reject", "return", "transfer", "add_signer", "cc"]
    if is_requester(user, task.instance):
        allowed += ["nudge"] + (["withdraw"] if not decided_this_round(task.instance_id) else [])
    return allowed + ["comment"]


def decided_this_round(instance_id: int) -> bool:
    """Whether any approver has acted since the request was (re)submitted."""
    events = db.session.execute(select(ProcessEvent.action, ProcessEvent.data).where(
        ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id)).all()
    acted = False
    for action, data in events:
        if action in ("started", "resubmitted"):
            acted = False
        elif action in ("completed_task", "returned", "transferred", "added_signer") and isinstance(data, dict) \
                and (data.get("decision") or action != "completed_task"):
            acted = True
    return acted


def _approval_task(task_id: int, user: User) -> tuple[HumanTask, ProcessInstance]:
    task, instance = human_tasks.locked_open_task(task_id, user)
    if step_of(task) is None:
        raise Conflict("此任务不是审批任务", code="not_an_approval")
    if task.assignee_id != user.id:
        raise Forbidden("此任务不是您的任务")
    return task, instance


def decide(*, task_id: int, user: User, decision: str, comment: str | None = None) -> HumanTask:
    """同意 or 拒绝 (a refusal needs its reason); the step decides as its mode says; commits."""
    if decision not in DECISIONS:
        raise Invalid("请选择同意或拒绝", {"decision": ["请选择同意或拒绝"]})
    text = human_tasks.comment_text(comment, required=decision == "reject")
    if step_of(human_tasks.get_task(task_id=task_id, user=user)) is None:  # a task he may see, and an approval
        raise Conflict("此任务不是审批任务", code="not_an_approval")
    return human_tasks.complete_task(task_id=task_id, user=user,
                                     data={"decision": decision, "comment": text or ""}, comment=text)


@dataclass(frozen=True)
class BatchResult:
    """What happened to one task of a batch approval."""

    task_id: int
    ok: bool
    message: str | None = None
    error: DomainError | None = None  # for the edge to say in the reader's language, with its code


def decide_many(*, task_ids: list[int], user: User, comment: str | None = None) -> list[BatchResult]:
    """Approve several tasks with one comment, each in its own transaction; one failing stops none."""
    if not task_ids or len(task_ids) > MAX_BATCH:
        raise Invalid("一次最多批量审批 100 个任务", {"task_ids": ["一次最多批量审批 100 个任务"]})
    text = human_tasks.comment_text(comment)
    results = []
    for task_id in dict.fromkeys(task_ids):
        try:
            decide(task_id=task_id, user=user, decision="approve", comment=text)
            results.append(BatchResult(task_id, True))
        except DomainError as exc:
            db.session.rollback()
            results.append(BatchResult(task_id, False, exc.message, exc))
    return results


def return_task(*, task_id: int, user: User, to: str, comment: str | None) -> HumanTask:
    """退回: to the requester (the step ends as returned) or to an earlier approval step of this request; commits."""
    text = human_tasks.comment_text(comment, required=True)
    if to == "requester":
        task, _instance = _approval_task(task_id, user)
        db.session.rollback()
        return human_tasks.complete_task(task_id=task_id, user=user,
                                         data={"decision": "return", "comment": text or ""}, comment=text)
    return _return_to_step(task_id=task_id, user=user, step=to, comment=text)


@unit_of_work
def _return_to_step(*, task_id: int, user: User, step: str, comment: str | None) -> HumanTask:
    task, instance = _approval_task(task_id, user)
    steps = definitions.version(instance.definition_id).parsed.approval_steps
    reached = db.session.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == step, HumanTask.status == TaskStatus.COMPLETED))
    if step not in steps or step == task.bpmn_id or reached is None:
        raise Invalid("只能退回到此申请已经过的审批步骤", {"to": ["只能退回到此申请已经过的审批步骤"]},
                      code="return_target")
    # Recorded first: the step gone back to asks its people again, although they approved before.
    instances.record(instance, "returned", task=task, user=user, data={"to": step, "step": step_of(task)},
                     comment=comment)
    runtime = instances.run(instance, user, lambda r: r.reset_to(f"{step}__resolve"))
    instances.save(instance, runtime, user=user, completed_guid=None)
    return task


@unit_of_work
def transfer(*, task_id: int, user: User, to_user_id: int, comment: str | None = None) -> HumanTask:
    """转交: the approver hands his decision to a colleague; commits."""
    task, instance = _approval_task(task_id, user)
    target = db.session.get(User, to_user_id)
    if target is None or not target.active or target.id == user.id:
        raise Invalid("请选择一位在职的同事", {"to_user_id": ["请选择一位在职的同事"]}, code="transfer_target")
    human_tasks.hand_over(task, instance, to_user_id=target.id, by=user, comment=human_tasks.comment_text(comment))
    instances.record(instance, "transferred", task=task, user=user, data={"to_user_id": target.id})
    return task


@unit_of_work
def add_signer(*, task_id: int, user: User, to_user_id: int, before: bool, comment: str | None = None) -> HumanTask:
    """加签: ask one more person, before the approver (his turn comes back) or after him; commits."""
    task, instance = _approval_task(task_id, user)
    target = db.session.get(User, to_user_id)
    if target is None or not target.active or target.id == user.id:
        raise Invalid("请选择一位在职的同事", {"to_user_id": ["请选择一位在职的同事"]}, code="signer_target")
    asked = set(db.session.scalars(select(HumanTask.assignee_id).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == task.bpmn_id, HumanTask.status == TaskStatus.OPEN)))
    if target.id in asked:
        raise Invalid("此人已在审批中", {"to_user_id": ["此人已在审批中"]}, code="signer_target")
    sequential = step_mode(task) == "sequential"
    guid = task.task_guid

    def step(runtime: Any) -> None:
        runtime.add_approver(guid, target.id, before=before and sequential)
        if before and sequential:  # his turn passes to the new signer and comes back after him
            runtime.complete(guid, {"decision": "deferred", vote_variable(task.bpmn_id): None})

    runtime = instances.run(instance, user, step)
    instances.record(instance, "added_signer", task=task, user=user,
                     data={"to_user_id": target.id, "position": "before" if before else "after"},
                     comment=human_tasks.comment_text(comment))
    instances.save(instance, runtime, user=user, completed_guid=guid if before and sequential else None)
    return task


def cc(*, task_id: int, user: User, user_ids: list[int]) -> HumanTask:
    """抄送: people who then see the request read-only; commits."""
    return human_tasks.add_watchers(task_id=task_id, user=user, user_ids=user_ids)


@unit_of_work
def comment(*, instance_id: int, user: User, text: str) -> ProcessEvent:
    """评论 on a request, with @username to tell someone who may see it; commits."""
    instance = instances.get_instance(instance_id=instance_id, user=user)
    body = human_tasks.comment_text(text, required=True, field="text")
    mentioned = []
    for name in dict.fromkeys(_MENTION.findall(body or "")):
        person = db.session.scalar(select(User).where(User.username == name, User.active.is_(True)))
        if person is None or person.id == user.id:
            continue
        try:
            instances.get_instance(instance_id=instance.id, user=person)
        except NotFound:
            message = str(_("@%(name)s 看不到此申请", name=name))
            raise Invalid("@%(name)s 看不到此申请", {"text": [message]}, code="mention_out_of_scope",
                          name=name) from None
        mentioned.append(person.id)
        db.session.add(Notification(user_id=person.id, kind="mention", title=instance.title, body=body,
                                    instance_id=instance.id))
    event = ProcessEvent(instance_id=instance.id, action="comment", user_id=user.id, comment=body,
                         data={"mentioned": mentioned} if mentioned else None)
    db.session.add(event)
    return event


@unit_of_work
def withdraw(*, instance_id: int, user: User, reason: str | None = None) -> ProcessInstance:
    """撤回: the requester takes his request back while no approver has acted; commits."""
    instance = instances.lock(instance_id)
    if instance is None or not is_requester(user, instance):
        raise NotFound("流程实例不存在或您无权查看")
    if instance.status != InstanceStatus.RUNNING:
        raise Conflict("此流程已结束")
    if decided_this_round(instance.id):
        raise Conflict("已有审批人处理，不能撤回", code="withdraw_too_late")
    delivered: list[bool] = []

    def deliver(runtime: Any) -> None:
        delivered.append(runtime.send_message("withdraw", {"reason": reason or ""}))

    runtime = instances.run(instance, user, deliver)
    instances.record(instance, "withdrawn", user=user, comment=human_tasks.comment_text(reason))
    if delivered[0]:
        instances.save(instance, runtime, user=user, completed_guid=None)
    else:  # a diagram without a withdraw path simply ends
        instances.cancel_instance(instance=instance, user=user, reason=reason or "撤回")
    return instance


@unit_of_work
def nudge(*, instance_id: int, user: User) -> list[int]:
    """催办: remind the approvers who are waiting, at most once an hour; commits. The people reminded."""
    instance = instances.get_instance(instance_id=instance_id, user=user)
    if not is_requester(user, instance):
        raise Forbidden("只有发起人可以催办")
    since = clock.utcnow_naive() - NUDGE_INTERVAL
    recent = db.session.scalar(select(ProcessEvent.id).where(
        ProcessEvent.instance_id == instance.id, ProcessEvent.action == "nudged", ProcessEvent.at >= since))
    if recent is not None:
        raise Conflict("一小时内已催办过，请稍后再试", code="nudged_recently")
    waiting = list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.assignee_id.is_not(None))))
    people = sorted({task.assignee_id for task in waiting if task.assignee_id})
    for task in waiting:
        db.session.add(Notification(user_id=task.assignee_id, kind="nudge", title=task.name, task_id=task.id,
                                    instance_id=instance.id))
    instances.record(instance, "nudged", user=user, data={"user_ids": people})
    return people


def approval_history(instance_id: int) -> list[ProcessEvent]:
    """The actions taken on a request's approval steps, oldest first."""
    kept = {"started", "resubmitted", "completed_task", "returned", "transferred", "added_signer", "withdrawn",
            "nudged", "comment", "approval_auto", "watchers_added", "completed"}
    return [event for event in instances.history(instance_id) if event.action in kept]
