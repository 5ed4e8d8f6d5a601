"""Timers you can trust: every due timer applied exactly once — with two in-process loops, with two Celery beats
and a real worker on Redis, after a worker is killed with SIGKILL in the middle of a step, and after Redis
loses every message (simulated by FLUSHDB of the tests' own Redis database: restarting the machine's Redis
would disturb others). The due times live in the database, so what Redis loses the next scan sends again, and
what a killed worker did is rolled back with its transaction."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select, text

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import (
    ChurnWarning,
    Customer,
    HumanTask,
    Job,
    JobStatus,
    Order,
    ProcessEvent,
    ProcessInstance,
    ProcessSchedule,
    ScheduleRun,
    TaskStatus,
)
from bpm_crm.services import churn, churn_scan
from bpm_crm.tasks import scheduler
from bpm_crm.tasks.celery_app import celery_init_app

REDIS_URL = os.environ.get("BPM_CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
INACTIVE = ("七个月未下单甲", "七个月未下单乙", "从未下单的老客户")


def prepare(users, *, missed_weeks: int = 0) -> int:
    """Customers (two inactive for seven months, one that never ordered, one active), an unattended warning whose
    escalation is due, and the churn scan due now (after `missed_weeks` missed weeks); the escalating instance."""
    today = datetime.now(UTC).date()
    for name in (*INACTIVE, "五个月前下单", "已预警客户"):
        row = Customer(name=name, owner_id=users["manager1"].id, created_at=datetime.now() - timedelta(days=800))
        db.session.add(row)
        db.session.flush()
        row.number = f"KH{row.id:06d}"
        months = 5 if name == "五个月前下单" else 7
        if name != "从未下单的老客户":
            db.session.add(Order(number=f"DD{row.id}", customer_id=row.id, status=6,
                                 order_date=churn_scan.months_before(today, months)))
    db.session.commit()
    # A warning raised ten days ago and left alone: its escalation to the supervisor is due.
    clock.freeze(datetime.now(UTC) - timedelta(days=10))
    warned = db.session.scalar(select(Customer).where(Customer.name == "已预警客户"))
    warning = churn.create_warning(user=users["manager1"], values={"customer_id": warned.id})
    clock.unfreeze()
    for schedule in db.session.scalars(select(ProcessSchedule)):
        if schedule.process_id == "churn_scan":
            schedule.next_run_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(weeks=missed_weeks, seconds=1)
        else:
            schedule.next_run_at = datetime(2099, 1, 1)  # only the churn scan is due here
    db.session.commit()
    instance_id = warning.process_instance_id
    db.session.remove()
    return instance_id


def settled(seconds: float = 90.0) -> bool:
    """Wait until the scan ran, its processes started and the escalation fired."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()
        warnings = db.session.scalar(select(func.count()).select_from(ChurnWarning)) or 0
        without_process = db.session.scalar(select(func.count()).select_from(ChurnWarning).where(
            ChurnWarning.process_instance_id.is_(None))) or 0
        escalated = db.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.bpmn_id == "handle_escalated")) or 0
        pending = db.session.scalar(select(func.count()).select_from(Job).where(
            Job.status == JobStatus.PENDING.value)) or 0
        if warnings == 1 + len(INACTIVE) and not without_process and escalated and not pending:
            return True
        time.sleep(0.3)
    return False


def assert_applied_exactly_once(escalating_instance: int) -> None:
    db.session.rollback()
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))
    runs = db.session.scalars(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)).all()
    assert len(runs) == 1 and runs[0].instance_id is not None and runs[0].figures["raised"] == len(INACTIVE)
    assert schedule.next_run_at > datetime.now(UTC).replace(tzinfo=None)  # the next Saturday, not a missed one
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "churn_scan")) == 1
    names = db.session.scalars(select(Customer.name).join(ChurnWarning, ChurnWarning.customer_id == Customer.id))
    assert sorted(names) == sorted([*INACTIVE, "已预警客户"])
    processes = db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "churn"))
    assert processes == 1 + len(INACTIVE)  # one per warning, none twice
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.bpmn_id.in_(("handle", "handle_escalated")))) == processes
    assert db.session.scalar(select(func.count()).select_from(ProcessEvent).where(
        ProcessEvent.instance_id == escalating_instance, ProcessEvent.action == "timer")) == 1


# In-process loops ----------------------------------------------------------------------------------------

@pytest.mark.commits  # the loops run on their own threads and connections
def test_two_in_process_loops_apply_every_due_timer_once(app, users):
    escalating = prepare(users, missed_weeks=3)
    app.config["TIMER_POLL_SECONDS"] = 0.05
    stop = threading.Event()
    loops = [threading.Thread(target=scheduler.run_forever, args=(app, stop)) for _ in range(2)]
    for loop in loops:
        loop.start()
    try:
        assert settled(), "the loops did not finish the work"
        time.sleep(0.5)  # more passes over nothing left to do
    finally:
        stop.set()
        for loop in loops:
            loop.join(timeout=30)
    assert_applied_exactly_once(escalating)


# Celery on Redis -----------------------------------------------------------------------------------------

class Celery:
    """Real `celery worker` and `celery beat` processes on the test database and a private queue."""

    def __init__(self, app, tmp_path: Path, redis_url: str = REDIS_URL) -> None:
        self.queue = f"bpm-crm-test-{uuid.uuid4().hex[:8]}"
        app.config.update(REDIS_URL=redis_url, CELERY_QUEUE=self.queue, TIMER_POLL_SECONDS=1.0)
        self.celery = celery_init_app(app)
        self.env = {**os.environ, "BPM_CRM_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "BPM_CRM_REDIS_URL": redis_url, "BPM_CRM_CELERY_QUEUE": self.queue,
                    "BPM_CRM_TIMER_MODE": "celery", "BPM_CRM_TIMER_POLL_SECONDS": "1"}
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []

    def _start(self, *arguments: str, log: str) -> subprocess.Popen:
        output = open(self.tmp_path / log, "w")  # noqa: SIM115  (kept open for the process's life)
        process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bpm_crm.tasks.worker", *arguments],
                                   env=self.env, stdout=output, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker") -> subprocess.Popen:
        process = self._start("worker", "--pool=solo", "--concurrency=1", "-Q", self.queue, "--loglevel=INFO",
                              "--without-heartbeat", "--without-mingle", "--without-gossip",
                              "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", log=f"{name}.log")
        deadline = time.monotonic() + 60
        while not self.celery.control.inspect(timeout=1.0).ping():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + (self.tmp_path / f"{name}.log").read_text())
        return process

    def beat(self, name: str = "beat") -> subprocess.Popen:
        return self._start("beat", "--loglevel=INFO", "-s", str(self.tmp_path / f"{name}-schedule"),
                           log=f"{name}.log")

    def scan(self) -> int:
        """What beat does on each tick: enqueue one message per due timer, deadline, schedule and job."""
        from bpm_crm.tasks.timers import scan_due_timers

        return int(scan_due_timers.apply().get())

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)


@pytest.fixture
def celery(app, tmp_path):
    running = Celery(app, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        redis.Redis.from_url(REDIS_URL).delete(running.queue)


@pytest.mark.celery
@pytest.mark.commits  # the worker and beat processes read the committed database
def test_two_beats_and_a_worker_apply_every_due_timer_once(app, users, celery):
    escalating = prepare(users, missed_weeks=3)  # three Saturdays missed while nothing ran: one run
    celery.worker()
    celery.beat("beat-1")
    celery.beat("beat-2")  # a second scheduler by mistake: it sends the same work again, which changes nothing
    assert settled(120), "the worker did not finish the work"
    time.sleep(3)  # a few more ticks of both beats over nothing left to do
    assert_applied_exactly_once(escalating)


def _blocked_on_warnings() -> bool:
    # Its own short transaction each time: PostgreSQL shows pg_stat_activity as it was when a transaction
    # first read it.
    with db.engine.connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query ILIKE 'INSERT INTO churn_warnings%'")).scalar() > 0


@pytest.mark.celery
@pytest.mark.commits
def test_a_worker_killed_in_the_middle_of_the_scan_loses_and_duplicates_nothing(app, users, celery, backend):
    if backend != "postgresql":
        pytest.skip("a SQLite writer holds the whole file: the worker cannot get half-way into its step")
    escalating = prepare(users)
    # Hold the warnings table: the worker's scan gets as far as inserting its warnings and waits there — it
    # has locked the schedule, written the run, started the scan's instance and read the orders.
    blocker = db.engine.connect()
    transaction = blocker.begin()
    try:
        blocker.execute(text("LOCK TABLE churn_warnings IN SHARE ROW EXCLUSIVE MODE"))
        first = celery.worker("doomed")
        celery.scan()
        deadline = time.monotonic() + 60
        while not _blocked_on_warnings():
            assert time.monotonic() < deadline, "the worker never reached the middle of the scan"
            time.sleep(0.2)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
    finally:
        transaction.rollback()  # the killed worker's transaction can only be rolled back now
        blocker.close()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ScheduleRun)) == 0  # nothing it did survived

    celery.worker("survivor")
    deadline = time.monotonic() + 120
    while not settled(2):  # beat's ticks: the schedule is still due in the database, so it is sent again
        assert time.monotonic() < deadline, "the survivor did not finish the work"
        celery.scan()
    assert_applied_exactly_once(escalating)


@pytest.mark.celery
@pytest.mark.commits
def test_redis_losing_every_message_loses_no_due_timer(app, users, celery):
    escalating = prepare(users)
    assert celery.scan() >= 2  # the schedule and the escalation, sent to Redis …
    broker = redis.Redis.from_url(REDIS_URL)
    assert broker.llen(celery.queue) >= 2
    broker.flushdb()  # … and lost with everything else in the tests' Redis database (a restart without a disk)
    assert broker.llen(celery.queue) == 0
    celery.worker()
    deadline = time.monotonic() + 120
    while not settled(2):  # the next ticks find the same due times in the database and send them again
        assert time.monotonic() < deadline, "the work was lost with the messages"
        celery.scan()
    time.sleep(1)
    assert_applied_exactly_once(escalating)


class PrivateRedis:
    """A redis-server of the test's own, without a disk, that the test can kill and start again."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: whatever it held in memory is gone
        self.process.wait(timeout=20)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.mark.celery
@pytest.mark.commits
def test_a_redis_server_killed_and_restarted_loses_no_due_timer(app, users, tmp_path, private_redis):
    escalating = prepare(users)
    before = {key: app.config.get(key) for key in ("REDIS_URL", "CELERY_QUEUE", "TIMER_POLL_SECONDS")}
    celery = Celery(app, tmp_path, redis_url=private_redis.url)
    try:
        assert celery.scan() >= 2  # the schedule and the escalation, sent to the broker …
        assert redis.Redis.from_url(private_redis.url).llen(celery.queue) >= 2
        private_redis.kill()  # … which dies with them, and comes back empty
        private_redis.start()
        assert redis.Redis.from_url(private_redis.url).llen(celery.queue) == 0
        celery.worker()
        deadline = time.monotonic() + 120
        while not settled(2):  # the next ticks find the same due times in the database and send them again
            assert time.monotonic() < deadline, "the work was lost with the broker"
            celery.scan()
        time.sleep(1)
        assert_applied_exactly_once(escalating)
    finally:
        celery.stop()
        app.config.update(before)  # the other tests' broker again
        celery_init_app(app)


def test_the_scan_is_one_query_over_the_orders(app, users):
    """Set-based: the statements of a scan do not grow with the number of customers."""
    from sqlalchemy import event

    today = date(2026, 12, 5)
    clock.freeze(datetime(2026, 12, 4, 18, 0, tzinfo=UTC))
    counts = []
    for size in (5, 50):
        for index in range(size):
            row = Customer(name=f"客户{size}-{index}", owner_id=users["manager1"].id, created_at=datetime(2025, 1, 1))
            db.session.add(row)
            db.session.flush()
            db.session.add(Order(number=f"DD{size}-{index}", customer_id=row.id, status=6,
                                 order_date=churn_scan.months_before(today, 8)))
        db.session.commit()
        statements: list[str] = []
        listener = lambda *args, seen=statements: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            figures = churn_scan.scan(type("Context", (), {"instance": type("I", (), {"id": 0})()})(), months=6)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        db.session.commit()
        assert figures["raised"] == size
        counts.append(len([s for s in statements if "orders" in s.lower()]))
    assert counts[0] == counts[1] <= 3


@pytest.mark.celery
def test_a_due_item_is_sent_once_until_a_worker_is_done_with_it(app, users, celery):
    from bpm_crm.tasks import timers as timer_tasks

    escalating = prepare(users)  # the churn scan and an escalation are due
    broker = redis.Redis.from_url(REDIS_URL)
    app.config["TIMER_POLL_SECONDS"] = 0.2  # a mark lasts SENT_FOR_POLLS polls: two seconds
    sent = celery.scan()
    assert sent == 2 and broker.llen(celery.queue) == 2
    assert celery.scan() == 0 and broker.llen(celery.queue) == 2  # the next tick, or a second beat: nothing again
    mark = timer_tasks._key("timer", escalating)
    assert broker.exists(mark)
    timer_tasks.fire_instance_timers.apply((escalating,))  # a worker is done with it: the mark goes
    assert not broker.exists(mark)
    # A worker that died holding the schedule's message: after SENT_FOR_POLLS polls the tick sends it again.
    broker.delete(celery.queue)
    time.sleep(2.5)
    assert celery.scan() == 1 and broker.llen(celery.queue) == 1
