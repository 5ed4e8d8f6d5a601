"""The in-process timer loop of the embedded default."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, TaskStatus
from bpm_crm.services import opportunities
from bpm_crm.tasks import scheduler


@pytest.mark.commits  # the loop runs on its own thread and connection
def test_one_pass_fires_due_timers_and_the_loop_stops_on_request(app, users):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="循环测试公司", probability=50, summary="s", description="d"))
    instance_id = opportunity.process_instance_id
    db.session.remove()

    assert scheduler.run_due_timers(app) == 0
    clock.freeze(start + timedelta(days=2, seconds=1))
    app.config["TIMER_POLL_SECONDS"] = 0.05
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(app, stop))
    loop.start()
    try:
        for _ in range(200):
            db.session.rollback()
            escalated = db.session.scalar(select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "assign_escalated"))
            if escalated is not None:
                break
            db.session.rollback()  # hold no lock while the loop works
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert escalated is not None and escalated.status == TaskStatus.OPEN


@pytest.mark.commits  # the loop runs on its own thread and connection
def test_the_loop_passes_again_at_once_while_a_pass_leaves_more_due(app, users, monkeypatch):
    from bpm_crm.services import timers

    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    for index in range(5):
        opportunities.create_opportunity(user=users["manager1"], values=dict(
            customer_name=f"批量测试公司{index}", probability=50, summary="s", description="d"))
    db.session.remove()
    monkeypatch.setattr(timers, "BATCH", 2)  # three passes for five due timers
    clock.freeze(start + timedelta(days=2, seconds=1))
    app.config["TIMER_POLL_SECONDS"] = 60  # a loop that waited between passes would take two minutes
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(app, stop))
    loop.start()
    try:
        for _ in range(200):
            db.session.rollback()
            escalated = db.session.scalar(select(func.count()).select_from(HumanTask).where(
                HumanTask.bpmn_id == "assign_escalated"))
            db.session.rollback()
            if escalated == 5:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert escalated == 5
