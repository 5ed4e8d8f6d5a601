"""Latency of completing a user task (service call + engine run + commit) on SQLite and PostgreSQL.

Run: .venv/bin/python bench/complete_task.py [--n 100] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import time

import scratch
from flask_migrate import upgrade
from sqlalchemy import select

from bpm_crm import create_app
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, TaskStatus, User


def measure(url: str, n: int) -> dict[str, list[float]]:
    from bpm_crm.services import definitions, demo, human_tasks, opportunities

    app = create_app(scratch.config(url))
    timings: dict[str, list[float]] = {"assign": [], "make_plan": [], "create_opportunity": []}
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        definitions.deploy_directory(scratch.ROOT / "processes")
        manager = db.session.scalar(select(User).where(User.username == "manager1"))
        supervisor = db.session.scalar(select(User).where(User.username == "supervisor1"))
        manager_id, supervisor_id = manager.id, supervisor.id
        for i in range(n):
            started = time.perf_counter()
            opportunities.create_opportunity(user=manager, values=dict(
                customer_name=f"基准测试公司{i}", probability=50, summary="基准", description="基准测试"))
            timings["create_opportunity"].append(time.perf_counter() - started)
        for step, data in (("assign", {"assignee_id": manager_id}),
                           ("make_plan", {"plan_items": [{"date": "2026-12-01", "content": "拜访"}]})):
            task_ids = list(db.session.scalars(select(HumanTask.id).where(
                HumanTask.bpmn_id == step, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))
            db.session.remove()
            for task_id in task_ids:
                user = db.session.get(User, supervisor_id if step == "assign" else manager_id)
                started = time.perf_counter()
                human_tasks.complete_task(task_id=task_id, user=user, data=data)
                timings[step].append(time.perf_counter() - started)
                db.session.remove()  # a new request each time, as in the web server
        db.session.remove()
        db.engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        timings = scratch.on_backend(backend, lambda url: measure(url, args.n))
        for step, values in timings.items():
            ms = sorted(v * 1000 for v in values)
            rows.append((backend, step, len(ms), statistics.median(ms), ms[int(len(ms) * 0.95) - 1], ms[-1]))
    print(f"\n{'backend':<11}{'operation':<22}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}")
    for backend, step, count, median, p95, worst in rows:
        print(f"{backend:<11}{step:<22}{count:>5}{median:>12.2f}{p95:>10.2f}{worst:>10.2f}")


if __name__ == "__main__":
    main()
