"""The assign timer fired by a real Celery worker over the Redis at 127.0.0.1:6379."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, ProcessEvent, TaskStatus
from bpm_crm.services import opportunities, timers
from bpm_crm.tasks.celery_app import celery_init_app

REDIS_URL = os.environ.get("BPM_CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytestmark = [pytest.mark.celery, pytest.mark.commits]  # the worker process reads the committed database


@pytest.fixture
def worker(app):
    """A real `celery worker` process on the test database and a private queue."""
    queue = f"bpm-crm-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=REDIS_URL, CELERY_QUEUE=queue)
    celery = celery_init_app(app)
    env = {**os.environ, "BPM_CRM_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "BPM_CRM_REDIS_URL": REDIS_URL, "BPM_CRM_CELERY_QUEUE": queue, "BPM_CRM_TIMER_MODE": "celery"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bpm_crm.tasks.worker", "worker", "--pool=solo",
         "--concurrency=1", "-Q", queue, "--loglevel=INFO", "--without-heartbeat", "--without-mingle",
         "--without-gossip"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery.control.inspect(timeout=1.0, destination=None).ping():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + (process.stdout.read() if process.stdout else ""))
        yield celery
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()  # see what the worker committed
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_fires_the_assign_timer_exactly_once(app, users, worker):
    # The opportunity was created three days ago: its two-day timer is due in real time,
    # which is the only clock the worker process knows.
    clock.freeze(datetime.now(UTC) - timedelta(days=14))  # two working days have passed whatever the holidays
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="定时器测试公司", probability=50, summary="定时器", description="两天未指派"))
    instance_id = opportunity.process_instance_id
    db.session.remove()  # hold no transaction (SQLite: no lock) while the worker runs
    clock.unfreeze()

    from bpm_crm.tasks.timers import fire_instance_timers, scan_due_timers

    assert timers.due_instance_ids() == [instance_id]
    db.session.remove()
    # What beat runs: one job per due item — this instance's timer, and any scheduled scan due in real time.
    assert scan_due_timers.apply().get() >= 1
    # Two more deliveries of the same job (a redelivery, a second scheduler): they change nothing.
    duplicates = [fire_instance_timers.apply_async((instance_id,), ignore_result=False) for _ in range(2)]
    fired_again = [result.get(timeout=60) for result in duplicates]

    def escalated() -> bool:
        return db.session.scalar(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "assign_escalated")) is not None

    assert _wait_for(escalated), "the worker did not fire the timer"
    assert fired_again.count(True) <= 1
    assert db.session.scalar(select(func.count()).select_from(ProcessEvent).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.action == "timer")) == 1
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
    assert sorted((t.bpmn_id, t.status) for t in tasks) == [
        ("assign", TaskStatus.CANCELLED), ("assign_escalated", TaskStatus.OPEN)]
