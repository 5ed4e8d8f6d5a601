"""Two real connections completing the same task at once: one wins, one gets a conflict."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from bpm_crm.errors import Conflict
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, Opportunity, ProcessEvent, TaskStatus, User
from bpm_crm.services import opportunities, workflow


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
                workflow.complete_task(task_id=task_id, user=user, data={"assignee_id": assignee_id})
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
