"""Work on service requests beside their forms: 转办 (hand the handling to someone else), 催办 (nudge whoever
holds the request up), and what the request page shows of its process — the sign-off results side by side,
the status trail, and the deadlines that are running.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import (
    CandidateKind,
    Department,
    HumanTask,
    Notification,
    ProcessEvent,
    ServiceRequest,
    ServiceStatus,
    TaskStatus,
    User,
)
from bpm_crm.services import human_tasks, instances, people, permissions, service_requests, timers
from bpm_crm.services.transaction import unit_of_work

HANDLING_STEPS = ("handle", "compensate")  # the steps a handler holds: 转办 hands them over
NUDGE_INTERVAL = timedelta(hours=1)
MAX_COMMENT = 500


def handling_task(record: ServiceRequest) -> HumanTask | None:
    """The open step its handler holds, if the request waits for him."""
    if record.process_instance_id is None:
        return None
    return db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == record.process_instance_id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.bpmn_id.in_(HANDLING_STEPS)))


def may_transfer(user: User, record: ServiceRequest) -> bool:
    """转办: its handler while he holds it, or whoever may reassign the work."""
    task = handling_task(record)
    return task is not None and (task.assignee_id == user.id or human_tasks.may_reassign(user, task))


def transfer_targets(user: User, record: ServiceRequest) -> list[User]:
    """People the handling may go to: active handlers of service requests other than the current one."""
    if not may_transfer(user, record):
        return []
    return [person for person in people.active_users_with_action("service.update")
            if person.id not in (record.handler_id, user.id)]


def _comment(text: str | None) -> str | None:
    value = (text or "").strip()
    if len(value) > MAX_COMMENT:
        raise Invalid("说明最多 500 个字符", {"comment": ["说明最多 500 个字符"]})
    return value or None


@unit_of_work
def transfer(*, request_id: int, user: User, to_user_id: int, comment: str | None = None) -> ServiceRequest:
    """转办: hand the request's handling to another handler, who is told at once (in-app, e-mail, SMS); commits."""
    record = service_requests.get_request(request_id=request_id, user=user)
    task = handling_task(record)
    if task is None:
        raise Conflict("此客户服务当前没有可转办的处理任务", code="service_not_transferable")
    locked, instance = human_tasks.locked_open_task(task.id, user)
    if not (locked.assignee_id == user.id or human_tasks.may_reassign(user, locked)):
        raise Forbidden("只有当前处理人或主管可以转办")
    if to_user_id not in {person.id for person in transfer_targets(user, record)}:
        message = "请选择一位在职的客服处理人员"
        raise Invalid(message, {"to_user_id": [message]}, code="transfer_target")
    human_tasks.hand_over(locked, instance, to_user_id=to_user_id, by=user, comment=_comment(comment),
                          kind="transfer")
    return record


def may_nudge(user: User, record: ServiceRequest) -> bool:
    """催办: its creator, its handler, or someone who handles service requests for its customer."""
    if record.status == ServiceStatus.ARCHIVED or record.process_instance_id is None:
        return False
    return user.id in (record.created_by_id, record.handler_id) or (
        permissions.can(user, "service.update")
        and permissions.customer_in_scope(user, record.customer_id, "service.update"))


@unit_of_work
def nudge(*, request_id: int, user: User) -> list[int]:
    """催办: remind everyone the request waits for, at most once an hour; commits. The people reminded."""
    record = service_requests.get_request(request_id=request_id, user=user)
    if not may_nudge(user, record):
        raise Forbidden("您不能催办此客户服务")
    instance = instances.lock(record.process_instance_id or 0)
    if instance is None:
        raise Conflict("此客户服务没有进行中的流程", code="service_not_running")
    since = clock.utcnow_naive() - NUDGE_INTERVAL
    if db.session.scalar(select(ProcessEvent.id).where(ProcessEvent.instance_id == instance.id,
                                                       ProcessEvent.action == "nudged", ProcessEvent.at >= since)):
        raise Conflict("一小时内已催办过，请稍后再试", code="nudged_recently")
    waiting = list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))
    notified: list[int] = []
    for task in waiting:
        for person in timers.holders(task):
            if person not in notified and person != user.id:
                notified.append(person)
                db.session.add(Notification(user_id=person, kind="nudge", title=task.name, task_id=task.id,
                                            instance_id=instance.id, body=f"{record.number} {record.summary}"))
    instances.record(instance, "nudged", user=user, data={"user_ids": notified})
    return notified


# What the request page shows --------------------------------------------------------------------

@dataclass(frozen=True)
class SignOffEntry:
    """One department's sign-off in one round: open, agreed, refused, or not asked any more."""

    department: str
    head: str | None
    state: str  # "open", "agree", "reject", "cancelled"
    comment: str | None
    signed_by: str | None
    signed_at: datetime | None
    due_at: datetime | None
    task_id: int


@dataclass(frozen=True)
class SignOffRound:
    """The departments asked by one acceptance, side by side."""

    number: int
    started_at: datetime
    entries: list[SignOffEntry] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        states = {entry.state for entry in self.entries}
        if "reject" in states:
            return "reject"
        return "open" if "open" in states else "agree"


def _decisions(instance_id: int) -> dict[int, dict[str, Any]]:
    rows = db.session.execute(select(ProcessEvent.human_task_id, ProcessEvent.data).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.action == "completed_task"))
    return {task_id: data for task_id, data in rows if task_id is not None and isinstance(data, dict)}


def sign_off_rounds(record: ServiceRequest) -> list[SignOffRound]:
    """Each round of department sign-off (会签) of a complaint, oldest first, with each department's result."""
    if record.process_instance_id is None:
        return []
    tasks = list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == record.process_instance_id,
        HumanTask.bpmn_id.in_(("accept", service_requests.SIGN_OFF_STEP))).order_by(HumanTask.id)))
    departments = {row.id: row for row in db.session.scalars(select(Department))}
    decisions = _decisions(record.process_instance_id)
    rounds: list[SignOffRound] = []
    for task in tasks:
        if task.bpmn_id == "accept":
            if task.status == TaskStatus.COMPLETED:
                rounds.append(SignOffRound(number=len(rounds) + 1, started_at=task.completed_at or task.created_at))
            continue
        if not rounds:
            continue
        values = task.candidate_values(CandidateKind.DEPARTMENT)
        department = departments.get(int(values[0])) if values and values[0].isdigit() else None
        data = decisions.get(task.id, {})
        state = {TaskStatus.OPEN: "open", TaskStatus.CANCELLED: "cancelled"}.get(
            TaskStatus(task.status), data.get("decision") or "agree")
        head = db.session.get(User, department.head_id) if department and department.head_id else None
        rounds[-1].entries.append(SignOffEntry(
            department=department.name if department else "—", head=head.full_name if head else None, state=state,
            comment=data.get("comment") or None, signed_by=task.completed_by.full_name if task.completed_by else None,
            signed_at=task.completed_at if task.status == TaskStatus.COMPLETED else None, due_at=task.due_at,
            task_id=task.id))
    return [one for one in rounds if one.entries]


@dataclass(frozen=True)
class StatusStep:
    """One status the request had, since when, and what moved it there."""

    status: str
    at: datetime
    by: str | None


_STATUS_AFTER = {
    "accept": ServiceStatus.ASSIGNED, "assign": ServiceStatus.ASSIGNED, "compensate": ServiceStatus.HANDLED,
    "handle": ServiceStatus.HANDLED,
}


def status_trail(record: ServiceRequest) -> list[StatusStep]:
    """The statuses the process moved the request through, oldest first (read from its history)."""
    trail = [StatusStep(ServiceStatus.NEW.value, record.created_at, record.created_by.full_name
                        if record.created_by else None)]
    if record.process_instance_id is None:
        return trail
    events = db.session.execute(select(ProcessEvent, HumanTask.bpmn_id).outerjoin(
        HumanTask, ProcessEvent.human_task_id == HumanTask.id).where(
        ProcessEvent.instance_id == record.process_instance_id).order_by(ProcessEvent.id)).all()
    for event, bpmn_id in events:
        who = event.user.full_name if event.user else None
        if event.action != "completed_task" or bpmn_id is None:
            continue
        if bpmn_id in _STATUS_AFTER:
            reached = _STATUS_AFTER[bpmn_id].value
            if reached != trail[-1].status:
                trail.append(StatusStep(reached, event.at, who))
        elif bpmn_id in ("return_visit", "give_feedback"):
            trail.append(StatusStep(ServiceStatus.FEEDBACK.value, event.at, who))
            data = event.data or {}
            low = bpmn_id == "return_visit" and str(data.get("satisfaction", "5")).isdigit() and \
                int(data["satisfaction"]) < 3
            trail.append(StatusStep((ServiceStatus.ASSIGNED if low else ServiceStatus.ARCHIVED).value, event.at, who))
    if record.status == ServiceStatus.ARCHIVED and trail[-1].status != ServiceStatus.ARCHIVED:
        trail.append(StatusStep(ServiceStatus.ARCHIVED.value, record.archived_at or record.updated_at, None))
    return trail


def running_deadlines(record: ServiceRequest) -> list[HumanTask]:
    """The open steps of the request with their due, reminder and escalation times."""
    if record.process_instance_id is None:
        return []
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == record.process_instance_id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.id)))
