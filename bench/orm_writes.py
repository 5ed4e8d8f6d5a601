"""What the ORM's unit of work adds to the writes of one task completion, beside the same writes as Core statements.

Run: .venv/bin/python bench/orm_writes.py [--rounds 5] [--n 100]

A completion writes six rows: the business record, the finished inbox row and the next one, the instance's
state, a history line and the record's audit entry. On a scratch PostgreSQL database this loads one of each
kind, then, alternating in rounds so that the machine's drift touches both alike, makes those writes through
the session's flush (as the app does: the audit entry is written by the flush's hook) and as six Core
UPDATE/INSERT statements, each time in a transaction rolled back, and prints the thread CPU per
completion's writes (median of the rounds) — what a second, below-the-ORM way of writing a step could save
at most on its writes.
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

import completion
import scratch
from sqlalchemy import insert, select, update

from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, HumanTask, Opportunity, ProcessEvent, ProcessInstance
from bpm_crm.models.base import utcnow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=100, help="completions' writes per round and way")
    args = parser.parse_args()

    name = scratch.create_pg("bpm_crm_orm_writes")
    try:
        app = completion.prepare(scratch.pg_url(name), 1)
        with app.app_context():
            task = db.session.scalar(select(HumanTask))
            task_id, instance_id = task.id, task.instance_id
            opportunity_id = db.session.scalar(select(Opportunity.id))
            state = db.session.get(ProcessInstance, instance_id).state
            db.session.rollback()

            def loaded() -> tuple[HumanTask, ProcessInstance, Opportunity]:
                return (db.session.get(HumanTask, task_id), db.session.get(ProcessInstance, instance_id),
                        db.session.get(Opportunity, opportunity_id))

            def through_the_orm() -> float:
                finished, instance, opportunity = loaded()
                started = time.thread_time()
                finished.draft, instance.state, opportunity.summary = {"x": 1}, state + " ", "写入"
                db.session.add(ProcessEvent(instance_id=instance_id, human_task_id=task_id, action="completed_task",
                                            task_name="指派", data={"assignee_id": 1}))
                db.session.add(HumanTask(instance_id=instance_id, task_guid=str(uuid.uuid4()), bpmn_id="next",
                                         name="下一步", lane="客户经理", status="open", input_data={}, offered=False))
                db.session.flush()
                spent = time.thread_time() - started
                db.session.rollback()
                db.session.expunge_all()
                return spent

            def as_core_statements() -> float:
                loaded()
                started = time.thread_time()
                connection = db.session.connection()
                connection.execute(update(HumanTask.__table__).where(HumanTask.id == task_id).values(draft={"x": 1}))
                connection.execute(update(ProcessInstance.__table__).where(ProcessInstance.id == instance_id)
                                   .values(state=state + " "))
                connection.execute(update(Opportunity.__table__).where(Opportunity.id == opportunity_id)
                                   .values(summary="写入"))
                connection.execute(insert(ProcessEvent.__table__).values(
                    instance_id=instance_id, human_task_id=task_id, action="completed_task", task_name="指派",
                    data={"assignee_id": 1}))
                connection.execute(insert(HumanTask.__table__).values(
                    instance_id=instance_id, task_guid=str(uuid.uuid4()), bpmn_id="next", name="下一步",
                    lane="客户经理", status="open", input_data={}, offered=False))
                connection.execute(insert(AuditLog.__table__).values(  # what the flush's audit hook writes
                    at=utcnow(), user_id=None, record_type="opportunity", record_id=opportunity_id, action="update",
                    changes={"summary": ["基准", "写入"]}))
                spent = time.thread_time() - started
                db.session.rollback()
                db.session.expunge_all()
                return spent

            ways = {"the session's flush (as the app writes)": through_the_orm,
                    "six Core statements": as_core_statements}
            for way in ways.values():  # compiled statements cached, connections warm
                for _ in range(30):
                    way()
            rounds: dict[str, list[float]] = {label: [] for label in ways}
            for _ in range(args.rounds):
                for label, way in ways.items():
                    rounds[label].append(sum(way() for _ in range(args.n)) / args.n * 1000)
            db.session.remove()
    finally:
        scratch.drop_pg(name)

    print()
    print(f"| the six writes of a completion, through … | ms of thread CPU (median of {args.rounds} rounds of "
          f"{args.n}) | rounds |")
    print("|---|---|---|")
    for label, values in rounds.items():
        print(f"| {label} | {statistics.median(values):.2f} | {' '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()
