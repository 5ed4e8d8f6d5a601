"""What the scheduler does on each pass: due timers, task deadlines, scheduled starts, after-commit jobs.

Timers are due times in the database: an instance's earliest timer (`next_timer_at`) and a
task's next deadline (`next_deadline_at`), both indexed. Each pass picks the due rows and
advances each one in its own transaction under a row lock taken with SKIP LOCKED, re-checking
that it is still due: a duplicate or redelivered job changes nothing and two schedulers never
fire the same thing twice. A failing instance gets an incident and is retried five minutes later.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    CandidateKind,
    HumanTask,
    InstanceStatus,
    Notification,
    ProcessInstance,
    TaskStatus,
    User,
)
from bpm_crm.services import definitions, instances, jobs, permissions, schedules

log = logging.getLogger(__name__)


def due_instance_ids(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    moment = now or clock.utcnow_naive()
    return list(db.session.scalars(
        select(ProcessInstance.id)
        .where(ProcessInstance.next_timer_at <= moment, ProcessInstance.status == InstanceStatus.RUNNING)
        .order_by(ProcessInstance.next_timer_at).limit(limit)
    ))


def fire_timers(*, instance_id: int) -> bool:
    """Advance one instance whose timer is due; commits. False when another scheduler got it first."""
    try:
        instance = instances.lock(instance_id, skip_locked=True)
        now = clock.utcnow_naive()
        if (instance is None or instance.status != InstanceStatus.RUNNING or instance.next_timer_at is None
                or instance.next_timer_at > now):
            db.session.rollback()
            return False
        due = instance.next_timer_at
        runtime = instances.run(instance, None, lambda r: r.advance())
        instances.record(instance, "timer", user=None, data={"due": due.isoformat()})
        instances.save(instance, runtime, user=None, completed_guid=None)
        db.session.commit()
        return True
    except Exception as exc:  # keep the failure on the instance; the scheduler goes on with the others
        log.exception("timer of instance %s failed", instance_id)
        instances.mark_incident(instance_id, getattr(exc, "message", None) or str(exc))
        return False


def fire_due_timers(*, now: datetime | None = None, limit: int = 200) -> int:
    """Advance every instance whose earliest timer is due; returns how many were advanced."""
    ids = due_instance_ids(now=now, limit=limit)
    db.session.rollback()  # end the read transaction; each instance gets its own
    return sum(1 for instance_id in ids if fire_timers(instance_id=instance_id))


def due_deadline_task_ids(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    moment = now or clock.utcnow_naive()
    return list(db.session.scalars(
        select(HumanTask.id).where(HumanTask.status == TaskStatus.OPEN, HumanTask.next_deadline_at <= moment)
        .order_by(HumanTask.next_deadline_at).limit(limit)
    ))


MAX_HOLDERS = 20


def holders(task: HumanTask) -> list[int]:
    """Who holds the task: its assignee, else the people, department heads and role holders (within their claim
    scope) it is offered to."""
    if task.assignee_id:
        return [task.assignee_id]
    people: list[int] = []
    for candidate in task.candidates:
        named = permissions.people_named(candidate.kind, candidate.value)
        if candidate.kind == CandidateKind.ROLE:
            named = [user_id for user_id in named
                     if permissions.user_in_scope(user_id, "task.claim", [task.scope_user_id])][:MAX_HOLDERS]
        people += named
    return list(dict.fromkeys(people))[:MAX_HOLDERS]


def _notify(task: HumanTask, kind: str, title: str) -> list[int]:
    """Notify whoever holds the task (its assignee, else its named candidates); the ids notified."""
    people = holders(task)
    for user_id in people:
        db.session.add(Notification(user_id=user_id, kind=kind, title=title, task_id=task.id,
                                    instance_id=task.instance_id))
    return people


def fire_deadlines(*, task_id: int) -> bool:
    """Send a task's due reminder or escalation once; commits. False when nothing was due or it was taken."""
    task = db.session.scalar(select(HumanTask).where(HumanTask.id == task_id).with_for_update(skip_locked=True)
                             .execution_options(populate_existing=True))
    now = clock.utcnow_naive()
    if task is None or task.status != TaskStatus.OPEN or task.next_deadline_at is None or task.next_deadline_at > now:
        db.session.rollback()
        return False
    instance = task.instance
    if task.remind_at is not None and task.reminded_at is None and task.remind_at <= now:
        task.reminded_at = now
        notified = _notify(task, "reminder", task.name)
        instances.record(instance, "reminded", task=task, user=None, data={"notified": notified})
    if task.escalate_at is not None and task.escalated_at is None and task.escalate_at <= now:
        task.escalated_at = now
        _escalate(task)
    pending = [m for m, done in ((task.remind_at, task.reminded_at), (task.escalate_at, task.escalated_at))
               if m is not None and done is None]
    task.next_deadline_at = min(pending) if pending else None
    db.session.commit()
    return True


def escalation_mode(task: HumanTask) -> str:
    """What escalating this task does: the diagram's `escalate_mode`, else BPM_CRM_ESCALATION_MODE."""
    properties = definitions.version(task.instance.definition_id).parsed.user_tasks.get(task.bpmn_id, {})
    mode = (properties.get("escalate_mode") or current_app.config["ESCALATION_MODE"]).strip()
    return mode if mode in ("watch", "reassign") else "watch"


def _escalate(task: HumanTask) -> None:
    """Past its escalation time a task goes to the assignee's superior: copied to him (watch) or given to him."""
    from bpm_crm.models import TaskWatcher
    from bpm_crm.services import human_tasks

    superior_id = None
    held_by = holders(task)
    if held_by:
        superior_id = db.session.scalar(select(User.superior_id).where(User.id == held_by[0]))
    mode = escalation_mode(task)
    if superior_id is not None and mode == "reassign":
        instance = instances.lock(task.instance_id)
        if instance is not None:
            human_tasks.hand_over(task, instance, to_user_id=superior_id, by=None, kind="escalation",
                                  comment="超时未处理，已升级给上级")
    elif superior_id is not None:
        if superior_id not in {w.user_id for w in task.watchers}:
            task.watchers.append(TaskWatcher(user_id=superior_id))
        db.session.add(Notification(user_id=superior_id, kind="escalation", title=task.name, task_id=task.id,
                                    instance_id=task.instance_id))
    instances.record(task.instance, "escalated", task=task, user=None,
                     data={"superior_id": superior_id, "mode": mode})


def fire_due_deadlines(*, now: datetime | None = None, limit: int = 200) -> int:
    ids = due_deadline_task_ids(now=now, limit=limit)
    db.session.rollback()
    return sum(1 for task_id in ids if fire_deadlines(task_id=task_id))


BATCH = 200  # due instances, and due tasks, one pass takes; a full batch means more are waiting
JOB_BATCH = 100


@dataclass(frozen=True)
class PassResult:
    """What one scheduler pass did; `more` when a kind filled its batch (more may be due: pass again at once)."""

    timers: int
    deadlines: int
    schedules: int
    jobs: int
    more: bool = False

    @property
    def total(self) -> int:
        return self.timers + self.deadlines + self.schedules + self.jobs


def run_pass(*, now: datetime | None = None) -> PassResult:
    """One scheduler pass over everything that can come due."""
    instance_ids = due_instance_ids(now=now, limit=BATCH)
    db.session.rollback()  # end the read transaction; each instance gets its own
    fired = sum(1 for instance_id in instance_ids if fire_timers(instance_id=instance_id))
    task_ids = due_deadline_task_ids(now=now, limit=BATCH)
    db.session.rollback()
    deadlines = sum(1 for task_id in task_ids if fire_deadlines(task_id=task_id))
    started = schedules.run_due_schedules(now=now)
    ran = jobs.run_due_jobs(now=now, limit=JOB_BATCH)
    return PassResult(timers=fired, deadlines=deadlines, schedules=started, jobs=ran,
                      more=len(instance_ids) == BATCH or len(task_ids) == BATCH or ran == JOB_BATCH)
