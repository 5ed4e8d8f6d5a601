"""10,000 timers due at once: how long until every one has fired, and how many fired twice.

Run: .venv/bin/python bench/timers.py [--timers 10000] [--poll 15] [--modes inprocess,two-inprocess,celery]
     [--template NAME]

The timers are the product's own: one weekly churn scan raises a warning for each of `--timers` customers who
stopped ordering, and each warning's process (客户流失处理) waits in 采取暂缓措施 with its boundary timer
(escalate to the supervisor after three working days). All of that is set up with the clock two weeks back, so at
the real now every escalation is due at once. The data is prepared once in a template database (kept with
--template NAME, else dropped) and copied for each mode:

- inprocess: one `bpm-crm timers` process (the in-process loop of the embedded default);
- two-inprocess: two `bpm-crm timers` processes racing (two web servers, each with its loop);
- celery: two `celery beat` processes racing and one `celery worker` (prefork, two processes) on Redis
  127.0.0.1:6379 (a private queue), as in production.

Each mode runs against a fresh copy with `BPM_CRM_TIMER_POLL_SECONDS` = `--poll` and is timed from the moment its
processes start until every instance has fired (its timer history row written, its escalated task open) — also
from the first one fired, which leaves out the processes' start-up — then it counts duplicates: instances with more
than one timer history row or more than one escalated task.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import scratch
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, insert, select, text

from bpm_crm import clock, create_app
from bpm_crm.extensions import db
from bpm_crm.models import Customer, InstanceStatus, ProcessInstance, ProcessSchedule, User

ROOT = scratch.ROOT
REDIS_URL = os.environ.get("BPM_CRM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BIN = Path(sys.executable).parent
MANAGERS = ("manager1", "manager2", "manager3")
FIRED = text("""
    SELECT count(DISTINCT e.instance_id) FROM process_events e JOIN process_instances i ON i.id = e.instance_id
    WHERE e.action = 'timer' AND i.process_id = 'churn'
""")
DUPLICATES = text("""
    SELECT
      (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM process_events e
         JOIN process_instances i ON i.id = e.instance_id WHERE e.action = 'timer' AND i.process_id = 'churn'
         GROUP BY e.instance_id) timers),
      (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM human_tasks
         WHERE bpmn_id = 'handle_escalated' GROUP BY instance_id) tasks)
""")


def prepare(name: str, count: int) -> None:
    """Customers without orders, the churn scan two weeks ago and one process per warning; commits."""
    from bpm_crm.services import definitions, demo, jobs, schedules

    scratch.create_pg(name=name)
    app = create_app(scratch.config(scratch.pg_url(name), TESTING=False))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        definitions.deploy_directory(ROOT / "processes")
        db.session.commit()
        owners = list(db.session.scalars(select(User.id).where(User.username.in_(MANAGERS))))
        long_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=800)
        rows = [{"name": f"基准客户{i:05d}", "number": f"JZ{i:06d}", "owner_id": owners[i % len(owners)],
                 "status": "正常", "level": "普通", "created_at": long_ago, "updated_at": long_ago}
                for i in range(count)]
        for start in range(0, count, 5000):
            db.session.execute(insert(Customer), rows[start:start + 5000])
        db.session.commit()
        started = time.perf_counter()
        clock.freeze(datetime.now(UTC) - timedelta(days=14))
        try:
            schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))
            schedule.next_run_at = clock.utcnow_naive()
            db.session.commit()
            schedules.run_schedule(schedule_id=schedule.id)
            while jobs.run_due_jobs():
                if _count_processes() % 1000 == 0:
                    print(f"  processes started: {_count_processes()}", flush=True)
        finally:
            clock.unfreeze()
        # Nothing else may come due while the modes run: only the escalations are measured.
        db.session.execute(text("UPDATE process_schedules SET next_run_at = '2099-01-01'"))
        db.session.commit()
        due = db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.process_id == "churn", ProcessInstance.status == InstanceStatus.RUNNING,
            ProcessInstance.next_timer_at <= clock.utcnow_naive()))
        print(f"  {due} churn processes with their escalation due, prepared in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        if due != count:
            raise SystemExit(f"expected {count} due timers, found {due}")
        db.session.remove()
        db.engine.dispose()


def _count_processes() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "churn")) or 0


def _env(url: str, poll: float, queue: str | None = None) -> dict[str, str]:
    env = {**os.environ, "BPM_CRM_DATABASE_URL": url, "BPM_CRM_TIMER_POLL_SECONDS": str(poll),
           "BPM_CRM_TIMER_MODE": "celery" if queue else "inprocess", "BPM_CRM_PROCESSES_DIR": str(ROOT / "processes")}
    if queue:
        env.update(BPM_CRM_REDIS_URL=REDIS_URL, BPM_CRM_CELERY_QUEUE=queue)
    return env


def _processes(mode: str, url: str, poll: float, logs: Path) -> tuple[list[subprocess.Popen], str | None]:
    def start(arguments: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
        output = open(logs / log, "w")  # noqa: SIM115  (kept open for the process's life)
        return subprocess.Popen(arguments, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)

    if mode in ("inprocess", "two-inprocess"):
        loops = 1 if mode == "inprocess" else 2
        return [start([str(BIN / "bpm-crm"), "timers"], _env(url, poll), f"loop{i}.log") for i in range(loops)], None
    queue = f"bpm-crm-bench-{uuid.uuid4().hex[:8]}"
    env = _env(url, poll, queue)
    celery = [sys.executable, "-m", "celery", "-A", "bpm_crm.tasks.worker"]
    running = [start([*celery, "worker", "--concurrency=2", "-Q", queue, "--loglevel=WARNING", "--without-heartbeat",
                      "--without-mingle", "--without-gossip", "-n", f"bench-{queue}@%h"], env, "worker.log")]
    running += [start([*celery, "beat", "--loglevel=WARNING", "-s", str(logs / f"beat{i}-schedule")], env,
                      f"beat{i}.log") for i in range(2)]
    return running, queue


def _stop(running: list[subprocess.Popen]) -> None:
    for process in running:
        if process.poll() is None:
            process.terminate()
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def run_mode(mode: str, template: str, count: int, poll: float, limit: float) -> dict[str, Any]:
    """Copy the template, start the mode's processes, wait until every timer fired, count duplicates."""
    name = f"bpm_crm_bench_{uuid.uuid4().hex[:8]}"
    scratch.create_pg(name=name, template=template)
    engine = create_engine(scratch.pg_url(name))
    logs = Path(tempfile.mkdtemp(prefix=f"bench-timers-{mode}-"))
    running: list[subprocess.Popen] = []
    queue = None
    try:
        started = time.perf_counter()
        running, queue = _processes(mode, scratch.pg_url(name), poll, logs)
        first = seconds = None
        fired, said = 0, 0.0
        while time.perf_counter() - started < limit:
            with engine.connect() as conn:
                fired = int(conn.execute(FIRED).scalar() or 0)
            now = time.perf_counter() - started
            if fired and first is None:
                first = now
            if fired >= count:
                seconds = now
                break
            if any(process.poll() is not None for process in running):
                raise SystemExit(f"a {mode} process ended early; see {logs}")
            if now - said >= 30:
                print(f"  {fired}/{count} fired after {now:.0f}s", flush=True)
                said = now
            time.sleep(0.5)
        time.sleep(max(5.0, 2 * poll))  # let the loops or beats pass over what is left: a late duplicate shows
        _stop(running)
        with engine.connect() as conn:
            timer_dups, task_dups = conn.execute(DUPLICATES).one()
            fired = int(conn.execute(FIRED).scalar() or 0)
        return {"mode": mode, "seconds": seconds, "first": first, "fired": fired, "timer_dups": int(timer_dups),
                "task_dups": int(task_dups)}
    finally:
        _stop(running)
        engine.dispose()
        if queue:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            client.delete(queue)
            for key in client.scan_iter(f"bpm-crm:sent:{queue}:*"):
                client.delete(key)
        scratch.drop_pg(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--poll", type=float, default=15.0, help="BPM_CRM_TIMER_POLL_SECONDS of the loops and beats")
    parser.add_argument("--modes", default="inprocess,two-inprocess,celery")
    parser.add_argument("--limit", type=float, default=1800.0, help="give a mode up after this many seconds")
    parser.add_argument("--template", metavar="NAME", help="keep the prepared data in this database and reuse it")
    args = parser.parse_args()
    template = args.template or f"bpm_crm_bench_{uuid.uuid4().hex[:8]}"
    if not scratch.pg_exists(template):
        print(f"preparing {args.timers} due timers in {template}", flush=True)
        prepare(template, args.timers)
    rows = []
    try:
        for mode in [mode.strip() for mode in args.modes.split(",") if mode.strip()]:
            print(f"{mode} …", flush=True)
            rows.append(run_mode(mode, template, args.timers, args.poll, args.limit))
    finally:
        if not args.template:
            scratch.drop_pg(template)
    print(f"\n{args.timers} timers due at once, poll {args.poll:g}s, {os.cpu_count()} cores")
    print(f"{'mode':<15}{'all fired':>11}{'first fired':>13}{'first→all':>11}{'timers/s':>10}{'fired':>8}"
          f"{'dup timers':>12}{'dup tasks':>11}")
    for row in rows:
        seconds, first = row["seconds"], row["first"]
        span = seconds - first if seconds is not None and first is not None else None
        rate = f"{row['fired'] / span:.0f}" if span else "-"
        print(f"{row['mode']:<15}{_s(seconds):>11}{_s(first):>13}{_s(span):>11}{rate:>10}{row['fired']:>8}"
              f"{row['timer_dups']:>12}{row['task_dups']:>11}")


def _s(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "-"

if __name__ == "__main__":
    main()
