"""The cost of one approval action next to a plain task completion, measured in the same run.

Each operation is timed through its service, as a request runs it (engine run, inbox, history, commit),
with a fresh session each time. Operations:
  plain_completion      an ordinary user task (the opportunity's 指派)
  submit_quote          submitting a quote: process start, decision table, resolving the supervisor
  approve_to_next_step  同意 at the supervisor's step, the director's step resolved next
  approve_final         同意 at the last step: the quote approved, its PDF job queued
  transfer              转交 to a colleague

Run: .venv/bin/python bench/approval.py [--n 100] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date

import scratch
from flask_migrate import upgrade
from sqlalchemy import select

from bpm_crm import create_app
from bpm_crm.extensions import db
from bpm_crm.models import Customer, HumanTask, Quote, TaskStatus, User


def _user(name: str) -> User:
    user = db.session.scalar(select(User).where(User.username == name))
    assert user is not None
    return user


def _waiting(quote_id: int, username: str) -> int:
    quote = db.session.get(Quote, quote_id)
    assert quote is not None
    task_id = db.session.scalar(select(HumanTask.id).where(
        HumanTask.instance_id == quote.process_instance_id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.assignee_id == _user(username).id))
    assert task_id is not None
    return task_id


def _timed(timings: list[float], action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    timings.append(time.perf_counter() - started)
    db.session.remove()  # a new request each time, as in the web server


def measure(url: str, n: int) -> dict[str, list[float]]:
    from bpm_crm.services import approvals, definitions, demo, human_tasks, opportunities, quote_approval, quotes

    app = create_app(scratch.config(url))
    timings: dict[str, list[float]] = {name: [] for name in (
        "plain_completion", "submit_quote", "approve_to_next_step", "approve_final", "transfer")}
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        definitions.deploy_directory(scratch.ROOT / "processes")
        manager = _user("manager1")
        customer = Customer(name="基准测试客户", owner_id=manager.id)
        db.session.add(customer)
        db.session.commit()
        customer_id, manager_id = customer.id, manager.id
        for i in range(n):
            opportunities.create_opportunity(user=_user("manager1"), values=dict(
                customer_name=f"基准测试公司{i}", probability=50, summary="基准", description="基准测试"))
        quote_ids = []
        for i in range(n):
            quote = quotes.create_quote(user=_user("manager1"), values={
                "customer_id": customer_id, "name": f"基准报价{i}", "quote_date": date(2026, 11, 30)}, lines=[
                {"product_name": "办公软件", "quantity": 1, "unit_price": "80000.00", "discount_pct": "0"}])
            quote_ids.append(quote.id)
        db.session.remove()

        task_ids = list(db.session.scalars(select(HumanTask.id).where(
            HumanTask.bpmn_id == "assign", HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))
        for task_id in task_ids:
            _timed(timings["plain_completion"], lambda task_id=task_id: human_tasks.complete_task(
                task_id=task_id, user=_user("supervisor1"), data={"assignee_id": manager_id}))
        for quote_id in quote_ids:
            _timed(timings["submit_quote"], lambda quote_id=quote_id: quote_approval.submit(
                quote_id=quote_id, user=_user("manager1")))
        for quote_id in quote_ids:
            task_id = _waiting(quote_id, "supervisor1")
            _timed(timings["approve_to_next_step"], lambda task_id=task_id: approvals.decide(
                task_id=task_id, user=_user("supervisor1"), decision="approve", comment="同意"))
        half = quote_ids[: n // 2]
        for quote_id in half:
            task_id = _waiting(quote_id, "director")
            _timed(timings["transfer"], lambda task_id=task_id: approvals.transfer(
                task_id=task_id, user=_user("director"), to_user_id=_user("ceo").id))
        for quote_id in quote_ids:
            approver = "ceo" if quote_id in half else "director"
            task_id = _waiting(quote_id, approver)
            _timed(timings["approve_final"], lambda task_id=task_id, approver=approver: approvals.decide(
                task_id=task_id, user=_user(approver), decision="approve"))
        db.session.remove()
        db.engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        timings = scratch.on_backend(backend, lambda url: measure(url, args.n))
        baseline = statistics.median(timings["plain_completion"])
        for operation, values in timings.items():
            ms = sorted(v * 1000 for v in values)
            median = statistics.median(ms)
            rows.append((backend, operation, len(ms), median, ms[max(int(len(ms) * 0.95) - 1, 0)], ms[-1],
                         median / (baseline * 1000)))
    print(f"\n{'backend':<11}{'operation':<22}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}"
          f"{'× plain':>9}")
    for backend, operation, count, median, p95, worst, ratio in rows:
        print(f"{backend:<11}{operation:<22}{count:>5}{median:>12.2f}{p95:>10.2f}{worst:>10.2f}{ratio:>9.2f}")


if __name__ == "__main__":
    main()
