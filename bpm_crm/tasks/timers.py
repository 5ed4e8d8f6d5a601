"""Celery tasks for timers: thin adapters taking ids, each one service call."""
from __future__ import annotations

from celery import shared_task

from bpm_crm.extensions import db
from bpm_crm.services import workflow


@shared_task(name="bpm_crm.tasks.timers.fire_instance_timers")
def fire_instance_timers(instance_id: int) -> bool:
    """Advance one instance if its timer is still due (a duplicate message does nothing)."""
    try:
        return workflow.fire_timers(instance_id=instance_id)
    finally:
        db.session.remove()


@shared_task(name="bpm_crm.tasks.timers.scan_due_timers")
def scan_due_timers() -> int:
    """Enqueue one job per instance whose earliest timer is due."""
    try:
        ids = workflow.due_instance_ids()
    finally:
        db.session.remove()
    for instance_id in ids:
        fire_instance_timers.delay(instance_id)
    return len(ids)
