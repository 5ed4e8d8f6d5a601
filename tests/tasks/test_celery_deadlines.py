"""Task deadlines (reminder, escalation) fired by a real Celery worker and by the in-process loop: once each."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, Notification, ProcessEvent
from bpm_crm.services import definitions, instances, timers
from bpm_crm.tasks import scheduler
from tests.tasks.test_celery_timers import _wait_for, worker  # noqa: F401  (the real worker fixture)

BUNDLE = Path(__file__).resolve().parents[1] / "processes" / "bundles" / "sla_review.bpmn"


def start_review(users, at: datetime) -> tuple[int, int]:
    """The SLA review started at `at`: its task's id and its instance's id, committed."""
    definitions.deploy(xml=BUNDLE.read_text(), file_name="sla_review.bpmn")
    clock.freeze(at)
    instance = instances.start_instance(
        process_id="sla_review", business_type=None, business_id=None, owner_id=users["manager1"].id,
        title="时效复核", data={"reviewer_id": users["manager1"].id, "deadline": "2030-01-01"},
        user=users["manager1"])
    db.session.commit()
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id))
    instance_id = instance.id
    db.session.remove()
    return task_id, instance_id


def fired(instance_id: int) -> list[str]:
    return list(db.session.scalars(select(ProcessEvent.action).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.action.in_(("reminded", "escalated")))
        .order_by(ProcessEvent.id)))


@pytest.mark.celery
@pytest.mark.commits
def test_a_real_worker_fires_the_reminder_and_the_escalation_exactly_once(app, users, worker):  # noqa: F811
    # Started a month ago: in the worker's real time both the reminder and the escalation are due.
    task_id, instance_id = start_review(users, datetime.now(UTC) - timedelta(days=30))
    clock.unfreeze()

    from bpm_crm.tasks.timers import fire_task_deadlines, scan_due_timers

    assert timers.due_deadline_task_ids() == [task_id]
    db.session.remove()
    # Beat's pass: one message for the task's deadlines, and one for any scheduled scan due in real time.
    assert scan_due_timers.apply().get() >= 1
    duplicates = [fire_task_deadlines.apply_async((task_id,), ignore_result=False) for _ in range(2)]
    results = [result.get(timeout=60) for result in duplicates]
    assert _wait_for(lambda: len(fired(instance_id)) == 2), "the worker did not fire the deadlines"
    assert results.count(True) <= 1
    assert fired(instance_id) == ["reminded", "escalated"]
    assert db.session.scalar(select(HumanTask.assignee_id).where(HumanTask.id == task_id)) == users[
        "supervisor1"].id
    kinds = sorted(db.session.scalars(select(Notification.kind).where(Notification.task_id == task_id)))
    assert kinds == ["escalation", "reminder"]


@pytest.mark.commits  # the loop runs on its own thread and connection
def test_the_in_process_loop_fires_each_deadline_once_as_the_clock_moves(app, users):
    task_id, instance_id = start_review(users, datetime(2025, 9, 26, 1, 0, tzinfo=UTC))
    app.config["TIMER_POLL_SECONDS"] = 0.05
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(app, stop))
    loop.start()
    try:
        clock.freeze(datetime(2025, 9, 28, 8, 30, tzinfo=UTC))  # past the reminder (16:00 on the 调休 Sunday)
        assert _wait_for(lambda: fired(instance_id) == ["reminded"], 20)
        stop.wait(0.3)  # several more passes: nothing more
        assert fired(instance_id) == ["reminded"]
        clock.freeze(datetime(2025, 9, 29, 2, 30, tzinfo=UTC))  # past the escalation (Monday 10:00)
        assert _wait_for(lambda: fired(instance_id) == ["reminded", "escalated"], 20)
        stop.wait(0.3)
    finally:
        stop.set()
        loop.join(timeout=10)
    db.session.rollback()
    assert fired(instance_id) == ["reminded", "escalated"]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.task_id == task_id)) == 2


@pytest.mark.commits  # the restarted app's loop runs on its own thread and connections
def test_a_deadline_set_before_a_restart_fires_exactly_once_after_it(app, users):
    from bpm_crm import create_app
    from bpm_crm.engine import definitions as parsed_definitions
    from bpm_crm.engine import runtime
    from tests.conftest import config_for

    task_id, instance_id = start_review(users, datetime(2025, 9, 26, 1, 0, tzinfo=UTC))
    due = db.session.scalar(select(HumanTask.next_deadline_at).where(HumanTask.id == task_id))
    assert due == datetime(2025, 9, 28, 8, 0)  # the reminder, kept in the database
    # The restart: a new process has parsed no diagram and cached no version, and builds its own app.
    parsed_definitions._load.cache_clear()
    runtime._SPECS.clear()
    definitions.forget_versions()
    restarted = create_app(config_for(app.config["SQLALCHEMY_DATABASE_URI"], TIMER_POLL_SECONDS=0.05))
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(restarted, stop))
    loop.start()
    try:
        stop.wait(0.3)
        assert fired(instance_id) == []  # nothing is due on the Friday it was set
        clock.freeze(datetime(2025, 9, 28, 8, 30, tzinfo=UTC))  # past the reminder (16:00 on the 调休 Sunday)
        assert _wait_for(lambda: fired(instance_id) == ["reminded"], 20)
        stop.wait(0.3)
        assert fired(instance_id) == ["reminded"]
        clock.freeze(datetime(2025, 9, 29, 2, 30, tzinfo=UTC))  # past the escalation (Monday 10:00)
        assert _wait_for(lambda: fired(instance_id) == ["reminded", "escalated"], 20)
        stop.wait(0.3)
    finally:
        stop.set()
        loop.join(timeout=10)
        with restarted.app_context():
            db.engine.dispose()
    db.session.rollback()
    assert fired(instance_id) == ["reminded", "escalated"]
    assert sorted(db.session.scalars(select(Notification.kind).where(Notification.task_id == task_id))) == [
        "escalation", "reminder"]
    task = db.session.get(HumanTask, task_id)
    assert task.assignee_id == users["supervisor1"].id and task.next_deadline_at is None
