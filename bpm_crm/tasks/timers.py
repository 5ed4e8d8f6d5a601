"""Celery tasks for the scheduler: thin adapters taking ids, each one service call."""
from __future__ import annotations

from celery import shared_task

from bpm_crm.extensions import db
from bpm_crm.services import jobs, schedules, timers


@shared_task(name="bpm_crm.tasks.timers.fire_instance_timers")
def fire_instance_timers(instance_id: int) -> bool:
    """Advance one instance if its timer is still due (a duplicate message does nothing)."""
    try:
        return timers.fire_timers(instance_id=instance_id)
    finally:
        db.session.remove()


@shared_task(name="bpm_crm.tasks.timers.fire_task_deadlines")
def fire_task_deadlines(task_id: int) -> bool:
    """Send a task's due reminder or escalation if it is still due."""
    try:
        return timers.fire_deadlines(task_id=task_id)
    finally:
        db.session.remove()


@shared_task(name="bpm_crm.tasks.timers.run_schedule")
def run_schedule(schedule_id: int) -> int | None:
    """Start the instance of a due schedule, once per due time."""
    try:
        return schedules.run_schedule(schedule_id=schedule_id)
    finally:
        db.session.remove()


@shared_task(name="bpm_crm.tasks.timers.run_job")
def run_job(job_id: int) -> bool:
    """Run one after-commit job if it is still pending and due."""
    try:
        return jobs.run_job(job_id)
    finally:
        db.session.remove()


@shared_task(name="bpm_crm.tasks.timers.scan_due_timers")
def scan_due_timers() -> int:
    """Beat's pass: enqueue one message per due instance timer, task deadline, schedule and job."""
    try:
        due = (
            [(fire_instance_timers, i) for i in timers.due_instance_ids()]
            + [(fire_task_deadlines, i) for i in timers.due_deadline_task_ids()]
            + [(run_schedule, i) for i in schedules.due_schedule_ids()]
            + [(run_job, i) for i in jobs.due_job_ids()]
        )
    finally:
        db.session.remove()
    for task, item_id in due:
        task.delay(item_id)
    return len(due)
