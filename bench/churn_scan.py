"""The weekly churn scan over many customers and orders, beside the bare SQL aggregate that finds the same customers.

Run: .venv/bin/python bench/churn_scan.py [--customers 100000] [--orders 1000000] [--raise 3000] [--repeat 5]
     [--template NAME]

On a scratch PostgreSQL database (dropped afterwards) it loads the demo users and the shipped processes
and generates the data with the `bpm-crm demo` generator (services/demo_data.py). Customers with no order in the
last six months who are beyond `--raise` are confirmed lost first (已流失, as earlier weeks' warnings would have left
them), so the scan raises a realistic number of warnings, not tens of thousands. Then, in one run:

1. the bare aggregate (customers in business with no order since the cutoff: GROUP BY over the orders) and the
   scan's own find-query (services.churn_scan.inactive_customers), each `--repeat` times, median;
2. the real scan as the weekly schedule runs it: schedules.run_schedule starts the churn_scan process, whose
   `churn.scan` service task raises the warnings in one INSERT and commits; then the after-commit jobs start one
   churn process per warning (timed separately); then the scan again (every customer skipped, a warning open);
3. the care rules over the same customers: an annual rule due today with the default condition on the customer
   level, planned as the daily care scan does (care_rules.plan_rule, rolled back), beside the bare SQL.

It checks that the bare aggregate and the scan find the same customers and prints a table with the ratios.
With --template NAME the generated data is kept in database NAME and copied for the next runs (generation takes
minutes; drop it with `dropdb NAME` when done).
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import scratch
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select, text, update

from bpm_crm import create_app
from bpm_crm.extensions import db
from bpm_crm.models import (
    ChurnStatus,
    ChurnWarning,
    Customer,
    CustomerStatus,
    Job,
    JobStatus,
    ProcessInstance,
    ProcessSchedule,
    ScheduleRun,
)

ROOT = scratch.ROOT
BARE = text("""
    SELECT c.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
    WHERE c.status = '正常' AND c.owner_id IS NOT NULL AND c.created_at < :cutoff
    GROUP BY c.id HAVING max(o.order_date) IS NULL OR max(o.order_date) < :cutoff
""")
NO_ORDER_SINCE = text("""
    SELECT count(*) FROM customers c
    WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.order_date >= :cutoff)
""")
CARE_BARE = text("""
    SELECT c.id FROM customers c
    WHERE c.level IN ('重点', 'VIP') AND c.status <> '已流失' AND c.owner_id IS NOT NULL
""")


def prepare(app: Flask, customers: int, orders: int) -> None:
    """Schema, demo users, the shipped processes and the generated customers and orders."""
    from bpm_crm.services import definitions, demo, demo_data

    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        definitions.deploy_directory(ROOT / "processes")
        db.session.commit()
        started = time.perf_counter()
        demo_data.generate(customers=customers, orders=orders, seed=2026,
                           progress=lambda message: print(f"  {message}", flush=True))
        print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
        db.session.remove()


def cutoff_day() -> Any:
    from bpm_crm.services import churn_scan
    from bpm_crm.services.customer_records import local_today

    return churn_scan.months_before(local_today(), 6)


def shape(keep: int) -> dict[str, int]:
    """Leave `keep` inactive customers in business; the others were confirmed lost in earlier weeks; commits."""
    cutoff = cutoff_day()
    total = db.session.scalar(select(func.count()).select_from(Customer)) or 0
    quiet = db.session.scalar(NO_ORDER_SINCE, {"cutoff": cutoff}) or 0
    inactive = sorted(db.session.scalars(BARE, {"cutoff": cutoff}))
    lost = sorted(set(inactive) - set(random.Random(2026).sample(inactive, min(keep, len(inactive)))))
    for start in range(0, len(lost), 10_000):
        db.session.execute(update(Customer).where(Customer.id.in_(lost[start:start + 10_000]))
                           .values(status=CustomerStatus.LOST.value))
    db.session.execute(text("ANALYZE customers"))
    db.session.commit()
    return {"customers": total, "no_order_6m": quiet, "inactive_in_business": len(inactive), "lost_before": len(lost)}


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` runs (after one warm-up) and the last result."""
    result = action()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
        db.session.rollback()
    return statistics.median(seconds), result


def run_scan() -> tuple[float, ScheduleRun]:
    """One run of the weekly schedule, as the scheduler starts it (its due time moved to now); seconds and run."""
    from bpm_crm import clock
    from bpm_crm.services import schedules

    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))
    schedule.next_run_at = clock.utcnow_naive()
    db.session.commit()
    started = time.perf_counter()
    instance_id = schedules.run_schedule(schedule_id=schedule.id)
    seconds = time.perf_counter() - started
    if instance_id is None:
        raise SystemExit("the churn scan did not run: see the schedule runs")
    run = db.session.scalar(select(ScheduleRun).where(ScheduleRun.instance_id == instance_id))
    return seconds, run


def start_processes() -> tuple[float, int]:
    """Run the after-commit jobs the scan left (one churn process per warning, 100 per job); seconds and count."""
    from bpm_crm.services import jobs

    started = time.perf_counter()
    while jobs.run_due_jobs():
        pass
    seconds = time.perf_counter() - started
    failed = db.session.scalar(select(func.count()).select_from(Job).where(Job.status != JobStatus.DONE.value))
    if failed:
        raise SystemExit(f"{failed} jobs did not finish")
    return seconds, db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "churn")) or 0


def care_annual(repeat: int) -> tuple[float, float, dict[str, int], int]:
    """An annual care rule due today for key customers, planned and rolled back; (plan s, bare s, figures, bare n)."""
    from bpm_crm.models import CareRule
    from bpm_crm.services import care_rules
    from bpm_crm.services.customer_records import local_today

    today = local_today()
    care_rules.seed_rules()
    rule = CareRule(name="基准：今日问候", kind="节日", trigger="annual", calendar="solar", month=today.month,
                    day=today.day, offset_days=0, lead_days=0, condition=care_rules.KEY_CUSTOMERS,
                    message="问候：{customer}", active=True)
    db.session.add(rule)
    db.session.commit()
    rule_id = rule.id
    seconds, figures = [], {}
    for _ in range(max(1, repeat // 2)):
        rule = db.session.get(CareRule, rule_id)
        figures = {name: 0 for name in care_rules.FIGURES}
        started = time.perf_counter()
        figures["created"] = care_rules.plan_rule(rule, today, today, figures)
        seconds.append(time.perf_counter() - started)
        db.session.rollback()
    bare, found = timed(lambda: list(db.session.scalars(CARE_BARE)), repeat)
    return statistics.median(seconds), bare, figures, len(found)


def measure(app: Flask, keep: int, repeat: int) -> list[tuple[str, str, str]]:
    from bpm_crm.services import churn_scan

    rows: list[tuple[str, str, str]] = []
    with app.app_context():
        shaped = shape(keep)
        cutoff = cutoff_day()
        print(f"  {shaped['customers']} customers, {shaped['no_order_6m']} with no order since {cutoff} "
              f"({100 * shaped['no_order_6m'] / max(1, shaped['customers']):.1f} %); "
              f"{shaped['lost_before']} of them confirmed lost before the run", flush=True)
        bare, bare_ids = timed(lambda: set(db.session.scalars(BARE, {"cutoff": cutoff})), repeat)
        find, found = timed(lambda: {row.id for row in db.session.execute(churn_scan.inactive_customers(cutoff))},
                            repeat)
        scan, run = run_scan()
        raised = set(db.session.scalars(select(ChurnWarning.customer_id).where(
            ChurnWarning.status == ChurnStatus.WARNING.value)))
        same = bare_ids == found == raised
        started, processes = start_processes()
        again, second = run_scan()
        figures, repeat_figures = run.figures or {}, second.figures or {}
        rows += [
            ("bare SQL aggregate (GROUP BY orders)", f"{bare * 1000:,.0f} ms", f"{len(bare_ids):,} customers"),
            ("scan's find-query (inactive_customers)", f"{find * 1000:,.0f} ms",
             f"{len(found):,} customers, {find / bare:.2f}x bare"),
            ("weekly scan run (schedule → commit)", f"{scan * 1000:,.0f} ms",
             f"checked {figures.get('checked', 0):,}, raised {figures.get('raised', 0):,}, "
             f"{scan / bare:.2f}x bare"),
            ("  its churn processes (after-commit jobs)", f"{started:,.1f} s",
             f"{processes:,} started, {1000 * started / max(1, processes):.1f} ms each"),
            ("weekly scan again (all open: skipped)", f"{again * 1000:,.0f} ms",
             f"raised {repeat_figures.get('raised', 0)}, skipped {repeat_figures.get('skipped_open', 0):,}, "
             f"{again / bare:.2f}x bare"),
            ("same customers (bare = find = raised)", "yes" if same else "NO", ""),
        ]
        care, care_bare, care_figures, care_found = care_annual(repeat)
        rows += [
            ("care: bare SQL (key customers in business)", f"{care_bare * 1000:,.0f} ms", f"{care_found:,} customers"),
            ("care: annual rule planned (plan_rule)", f"{care * 1000:,.0f} ms",
             f"created {care_figures.get('created', 0):,}, skipped: condition "
             f"{care_figures.get('skipped_condition', 0):,}, lost {care_figures.get('skipped_churned', 0):,}, "
             f"no owner {care_figures.get('skipped_no_owner', 0):,}; {care / care_bare:.0f}x bare"),
        ]
        db.session.remove()
        db.engine.dispose()
        if not same:
            print(f"  DIFFERENT: bare only {sorted(bare_ids - raised)[:10]}, "
                  f"raised only {sorted(raised - bare_ids)[:10]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--raise", dest="keep", type=int, default=3_000,
                        help="inactive customers left in business (the scan raises their warnings)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each read-only query")
    parser.add_argument("--template", metavar="NAME", help="keep the generated data in this database and reuse it")
    args = parser.parse_args()
    print(f"postgresql: {args.customers} customers, {args.orders} orders", flush=True)
    if args.template and not scratch.pg_exists(args.template):
        scratch.create_pg(name=args.template)
        template_app = create_app(scratch.config(scratch.pg_url(args.template), TESTING=False))
        prepare(template_app, args.customers, args.orders)
        with template_app.app_context():
            db.engine.dispose()
    name = scratch.create_pg(template=args.template)
    try:
        app = create_app(scratch.config(scratch.pg_url(name), TESTING=False))
        if not args.template:
            prepare(app, args.customers, args.orders)
        rows = measure(app, args.keep, args.repeat)
    finally:
        scratch.drop_pg(name)
    width = max(len(row[0]) for row in rows) + 2
    print(f"\n{'step':<{width}}{'time':>12}  figures")
    for step, seconds, figures in rows:
        print(f"{step:<{width}}{seconds:>12}  {figures}")


if __name__ == "__main__":
    main()
