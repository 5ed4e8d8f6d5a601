"""Two real connections completing the same task at once: one wins, one gets a conflict."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from bpm_crm.errors import Conflict
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, Opportunity, ProcessEvent, TaskStatus, User
from bpm_crm.services import human_tasks, opportunities

pytestmark = pytest.mark.commits  # each thread works on its own connection


def test_concurrent_double_completion_succeeds_once(app, users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="并发测试公司", probability=50, summary="并发", description="两人同时提交"))
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.bpmn_id == "assign"))
    supervisor_id, manager_ids = users["supervisor1"].id, [users["manager1"].id, users["manager3"].id]
    opportunity_id = opportunity.id
    db.session.remove()

    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    connections: set[int] = set()

    def submit(assignee_id: int) -> None:
        with app.app_context():
            barrier.wait()  # both requests arrive together
            try:
                user = db.session.get(User, supervisor_id)
                connections.add(id(db.session.connection().connection.dbapi_connection))
                human_tasks.complete_task(task_id=task_id, user=user, data={"assignee_id": assignee_id})
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append(f"conflict: {exc.message}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(m,)) for m in manager_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(connections) == 2  # two real database connections raced
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"]
    assert "完成" in next(o for o in outcomes if o.startswith("conflict"))
    opportunity = db.session.get(Opportunity, opportunity_id)
    assert opportunity.assignee_id in manager_ids
    assert db.session.scalar(select(func.count()).select_from(ProcessEvent).where(
        ProcessEvent.action == "completed_task")) == 1
    plan_tasks = db.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == "make_plan")).all()
    assert len(plan_tasks) == 1 and plan_tasks[0].status == TaskStatus.OPEN
    assert plan_tasks[0].assignee_id == opportunity.assignee_id


def test_several_concurrent_writers_all_succeed(app, users):
    """SQLite takes the write lock at BEGIN (IMMEDIATE) and waits for it, so no "database is locked"."""
    manager_id = users["manager1"].id
    db.session.remove()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                for i in range(5):
                    user = db.session.get(User, manager_id)
                    opportunities.create_opportunity(user=user, values=dict(
                        customer_name=f"并发客户{n}-{i}", probability=10, summary="s", description="d"))
                    db.session.remove()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert db.session.scalar(select(func.count()).select_from(Opportunity)) == 30
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.bpmn_id == "assign")) == 30
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
