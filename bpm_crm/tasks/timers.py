"""Celery tasks for the scheduler: thin adapters taking ids, each one service call.

Beat's tick sends one message per due item, up to SCAN_BATCH of each kind. A short-lived Redis key per item sent
(`SET NX`, removed when a worker is done with it) keeps a second beat, or the next tick while the queue is long,
from sending the same item again; the due times stay in the database, so a key lost with Redis, or expired
because a worker died holding the message, only means the item is sent once more — and a duplicate changes
nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from celery import shared_task
from flask import current_app

from bpm_crm.extensions import db
from bpm_crm.services import jobs, schedules, timers

log = logging.getLogger(__name__)

SCAN_BATCH = 1000  # due items of each kind one tick sends (the longest due first)
SENT_FOR_POLLS = 10  # a sent item is not sent again for this many polls, unless a worker finished it before

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = current_app.config["REDIS_URL"]
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


def _key(kind: str, item_id: int) -> str:
    return f"bpm-crm:sent:{current_app.config['CELERY_QUEUE']}:{kind}:{item_id}"


def _not_sent(kind: str, ids: list[int]) -> list[int]:
    """Of these due items, those no tick has sent lately; they are marked as sent."""
    if not ids:
        return []
    seconds = max(1, round(SENT_FOR_POLLS * float(current_app.config["TIMER_POLL_SECONDS"])))
    try:
        with _redis().pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.set(_key(kind, item_id), 1, nx=True, ex=seconds)
            claimed = pipe.execute()
    except redis.RedisError:  # no marks: send them all, as before; duplicates change nothing
        log.warning("could not mark due %s items as sent", kind, exc_info=True)
        return ids
    return [item_id for item_id, fresh in zip(ids, claimed, strict=True) if fresh]


def _done(kind: str, item_id: int) -> None:
    """The item was handled (or found not due): the next tick may send it again if it is due again."""
    try:
        _redis().delete(_key(kind, item_id))
    except redis.RedisError:  # the mark expires by itself
        log.warning("could not clear the sent mark of %s %s", kind, item_id, exc_info=True)


def _run(kind: str, item_id: int, call: Callable[[], object]) -> object:
    try:
        return call()
    finally:
        db.session.remove()
        _done(kind, item_id)


@shared_task(name="bpm_crm.tasks.timers.fire_instance_timers")
def fire_instance_timers(instance_id: int) -> bool:
    """Advance one instance if its timer is still due (a duplicate message does nothing)."""
    return bool(_run("timer", instance_id, lambda: timers.fire_timers(instance_id=instance_id)))


@shared_task(name="bpm_crm.tasks.timers.fire_task_deadlines")
def fire_task_deadlines(task_id: int) -> bool:
    """Send a task's due reminder or escalation if it is still due."""
    return bool(_run("deadline", task_id, lambda: timers.fire_deadlines(task_id=task_id)))


@shared_task(name="bpm_crm.tasks.timers.run_schedule")
def run_schedule(schedule_id: int) -> int | None:
    """Start the instance of a due schedule, once per due time."""
    started = _run("schedule", schedule_id, lambda: schedules.run_schedule(schedule_id=schedule_id))
    return started if isinstance(started, int) else None


@shared_task(name="bpm_crm.tasks.timers.run_job")
def run_job(job_id: int) -> bool:
    """Run one after-commit job if it is still pending and due."""
    return bool(_run("job", job_id, lambda: jobs.run_job(job_id)))


@shared_task(name="bpm_crm.tasks.timers.scan_due_timers")
def scan_due_timers() -> int:
    """Beat's pass: send one message per due instance timer, task deadline, schedule and job not sent lately."""
    try:
        due = (
            [(fire_instance_timers, "timer", i) for i in timers.due_instance_ids(limit=SCAN_BATCH)]
            + [(fire_task_deadlines, "deadline", i) for i in timers.due_deadline_task_ids(limit=SCAN_BATCH)]
            + [(run_schedule, "schedule", i) for i in schedules.due_schedule_ids()]
            + [(run_job, "job", i) for i in jobs.due_job_ids(limit=SCAN_BATCH)]
        )
    finally:
        db.session.remove()
    sent = 0
    for kind in ("timer", "deadline", "schedule", "job"):
        items = [(task, item_id) for task, item_kind, item_id in due if item_kind == kind]
        fresh = set(_not_sent(kind, [item_id for _task, item_id in items]))
        for task, item_id in items:
            if item_id in fresh:
                task.delay(item_id)
                sent += 1
    return sent
