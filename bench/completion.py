"""What one task completion costs: SQL statements, and completions per second over HTTP beside pgbench.

Run: .venv/bin/python bench/completion.py [--tasks 1000] [--clients 4] [--workers 4] [--warmup 40] [--seconds 15]

On a scratch PostgreSQL database it deploys the shipped processes, creates opportunities and then
1. counts the SQL statements of completing the `assign` task — in the service alone and as a whole
   API request (token check included) — over a sample of tasks;
2. serves the app with gunicorn (`--workers`, 4 by default) and lets `--clients` HTTP clients complete
   the remaining `assign` tasks through POST /api/v1/tasks/<id>/complete: the first `--warmup` untimed
   (each worker reads the diagrams and the organisation once), then the rest timed as one batch;
3. runs `pgbench -c <clients>` (TPC-B-like, built in; one pgbench thread, its default) for `--seconds` on
   another scratch database on the same server, in the same run, and prints both rates and their ratio; then
   `pgbench -c <clients> -j 2` (two pgbench threads, which this 2-core machine runs about 1.5× faster) and the
   ratio to that too;
4. says where the CPU went (read from /proc, Linux): per timed completion in the gunicorn workers, in the
   database's server processes for them, in the HTTP clients and on the whole machine, and per pgbench
   transaction on the whole machine — when both runs keep the cores busy, the ratio of the rates is the
   inverse ratio of these costs;
5. says what the statements alone cost the app (`--floor` completions, 100 by default): the CPU of one
   API completion in-process beside the CPU of replaying that completion's own statements, in one
   transaction, through SQLAlchemy's driver-level execute and through psycopg alone — what the web
   server would still spend per completion with no ORM, no engine and no Flask at all.
"""
from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import uuid

import scratch
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, select, text

from bpm_crm import create_app
from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, TaskStatus, User

ROOT = scratch.ROOT

PASSWORD = "demo1234"


class StatementCounter:
    """Counts statements sent to the database while active."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.active = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        if self.active:
            self.count += 1

    def measure(self, action) -> int:
        self.count, self.active = 0, True
        try:
            action()
        finally:
            self.active = False
        return self.count


def prepare(url: str, tasks: int):
    """Schema, demo users, the shipped processes and `tasks` opportunities waiting to be assigned."""
    from bpm_crm.services import definitions, demo, opportunities

    app = create_app(scratch.config(url, TESTING=False))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        demo.load_demo_users()
        definitions.deploy_directory(ROOT / "processes")
        manager = db.session.scalar(select(User).where(User.username == "manager1"))
        for i in range(tasks):
            opportunities.create_opportunity(user=manager, values=dict(
                customer_name=f"基准测试公司{i}", probability=50, summary="基准", description="基准测试"))
            db.session.remove()
            manager = db.session.scalar(select(User).where(User.username == "manager1"))
    return app


def open_assign_tasks(app) -> list[int]:
    with app.app_context():
        ids = list(db.session.scalars(select(HumanTask.id).where(
            HumanTask.bpmn_id == "assign", HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))
        db.session.remove()
        return ids


def count_statements(app, task_ids: list[int]) -> tuple[list[int], list[int]]:
    """Statements per completion: the service call alone, and the whole API request."""
    from bpm_crm.services import human_tasks

    with app.app_context():
        counter = StatementCounter(db.engine)
        manager_id = db.session.scalar(select(User.id).where(User.username == "manager1"))
        service_counts = []
        half = len(task_ids) // 2
        for task_id in task_ids[:half]:
            db.session.remove()
            supervisor = db.session.scalar(select(User).where(User.username == "supervisor1"))
            service_counts.append(counter.measure(lambda t=task_id, u=supervisor: human_tasks.complete_task(
                task_id=t, user=u, data={"assignee_id": manager_id})))
        db.session.remove()
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        request_counts = []
        for task_id in task_ids[half:]:
            def post(t: int = task_id) -> None:
                response = client.post(f"/api/v1/tasks/{t}/complete", json={"data": {"assignee_id": manager_id}},
                                       headers=headers)
                assert response.status_code == 200, response.get_data(as_text=True)
            request_counts.append(counter.measure(post))
        db.session.remove()
    return service_counts, request_counts


@dataclasses.dataclass
class Floor:
    """Thread CPU (ms) of one API completion in-process and of replaying its statements below it."""

    statements: int
    completion: float
    core: float
    driver: float


def floor_costs(app, task_ids: list[int], manager_id: int, rounds: int = 4) -> Floor:
    """One API completion in-process (test client) beside its own statements replayed, in alternating rounds.

    The statements of one completion are recorded as sent to the driver, then replayed, each replay one
    transaction rolled back (so the same rows can be written again): through SQLAlchemy's exec_driver_sql,
    and through the psycopg connection under it. Rounds alternate so that the machine's drift affects all
    three alike; the median round is reported.
    """
    with app.app_context():
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": PASSWORD}).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"data": {"assignee_id": manager_id}}

        def complete(task_id: int) -> None:
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)

        recorded: list[tuple[str, object]] = []
        recording = [False]

        def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
            if recording[0]:
                recorded.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        complete(task_ids[0])  # the first request of this client reads the diagrams and the organisation
        recording[0] = True
        complete(task_ids[1])
        recording[0] = False
        event.remove(db.engine, "before_cursor_execute", record)
        db.session.remove()

        def fresh(parameters):
            """The recorded parameters; a new task's guid is unique, so each replay names a new one."""
            if isinstance(parameters, dict) and "task_guid" in parameters:
                return {**parameters, "task_guid": str(uuid.uuid4())}
            return parameters

        def core() -> None:
            with db.engine.connect() as conn:
                for statement, parameters in recorded:
                    parameters = fresh(parameters)
                    result = conn.exec_driver_sql(statement, parameters)
                    if result.returns_rows:
                        result.all()
                conn.rollback()

        def driver(raw) -> None:
            with raw.cursor() as cursor:
                for statement, parameters in recorded:
                    cursor.execute(statement, fresh(parameters))
                    if cursor.description is not None:
                        cursor.fetchall()
            raw.rollback()

        remaining = task_ids[2:]
        per_round = max(1, len(remaining) // rounds)
        results: list[tuple[float, float, float]] = []
        with db.engine.connect() as held:
            raw = held.connection.driver_connection
            held.rollback()
            for _warm in range(10):
                core()
                driver(raw)
            for index in range(rounds):
                batch = remaining[index * per_round:(index + 1) * per_round]
                if not batch:
                    break
                started = time.thread_time()
                for task_id in batch:
                    complete(task_id)
                completion = (time.thread_time() - started) / len(batch)
                started = time.thread_time()
                for _ in batch:
                    core()
                replay_core = (time.thread_time() - started) / len(batch)
                started = time.thread_time()
                for _ in batch:
                    driver(raw)
                replay_driver = (time.thread_time() - started) / len(batch)
                results.append((completion, replay_core, replay_driver))
        db.session.remove()
    middle = sorted(results)[len(results) // 2]
    return Floor(statements=len(recorded), completion=middle[0] * 1000, core=middle[1] * 1000,
                 driver=middle[2] * 1000)


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    guest = sum(fields[8:10])  # guest time is already counted in user time
    return (sum(fields) - idle - guest) / TICK


def process_cpu(pids: list[int]) -> float:
    """Seconds of CPU (user + system) the processes have used; a process that is gone counts nothing."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == master:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def backend_pids(database: str) -> list[int]:
    """The server processes of the database's open connections."""
    engine = create_engine(scratch.PG_ADMIN)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                                     {"name": database}).scalars())
    finally:
        engine.dispose()


@dataclasses.dataclass
class CpuShare:
    """CPU seconds spent during a timed run, by whom."""

    app: float = 0.0
    database: float = 0.0
    clients: float = 0.0
    machine: float = 0.0
    seconds: float = 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_rate(url: str, task_ids: list[int], clients: int, manager_id: int,
              warmup: int = 0, workers: int = 4) -> tuple[float, float, CpuShare]:
    """Completions per second through gunicorn with `clients` concurrent HTTP clients; (rate, seconds, CPU).

    The first `warmup` completions are not timed: every worker has then read the diagrams and the
    organisation once, as in a server that has been up for a while (pgbench, too, reports its rate
    without the time to connect).
    """
    port = _free_port()
    env = {**os.environ, "BPM_CRM_DATABASE_URL": url, "BPM_CRM_TIMER_MODE": "off",
           "BPM_CRM_SECRET_KEY": "bench", "BPM_CRM_PROCESSES_DIR": str(ROOT / "processes")}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "bpm_crm:create_app()"], cwd=ROOT, env=env)
    try:
        deadline = time.time() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("POST", "/api/v1/auth/token", body=json.dumps(
                    {"username": "supervisor1", "password": PASSWORD}), headers={"Content-Type": "application/json"})
                token = json.loads(connection.getresponse().read())["token"]
                break
            except (OSError, KeyError, ValueError):
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        failures: list[str] = []

        def work(ids: list[int]) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = json.dumps({"data": {"assignee_id": manager_id}})
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            for task_id in ids:
                connection.request("POST", f"/api/v1/tasks/{task_id}/complete", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    failures.append(f"{task_id}: {response.status} {payload[:200]!r}")

        def run_all(ids: list[int]) -> float:
            threads = [threading.Thread(target=work, args=(ids[i::clients],)) for i in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.perf_counter() - started

        run_all(task_ids[:warmup])
        timed = task_ids[warmup:]
        workers_now, backends = worker_pids(server.pid), backend_pids(url.rsplit("/", 1)[1])
        before = CpuShare(app=process_cpu(workers_now), database=process_cpu(backends),
                          clients=time.process_time(), machine=machine_busy())
        elapsed = run_all(timed)
        cpu = CpuShare(app=process_cpu(workers_now) - before.app, database=process_cpu(backends) - before.database,
                       clients=time.process_time() - before.clients, machine=machine_busy() - before.machine,
                       seconds=elapsed)
        if failures:
            raise RuntimeError(f"{len(failures)} completions failed, e.g. {failures[:3]}")
        return len(timed) / elapsed, elapsed, cpu
    finally:
        server.terminate()
        server.wait(timeout=30)


def pgbench_rate(clients: int, seconds: int, threads: int = 1) -> tuple[float, CpuShare]:
    """pgbench's own TPC-B-like transactions per second on a scratch database, same server; and its CPU.

    `threads` is pgbench's -j: 1, its default, is what `pgbench -c <clients>` runs."""
    name = scratch.create_pg("bpm_crm_pgbench")
    try:
        subprocess.run(["pgbench", "-i", "-q", "-h", "127.0.0.1", "-U", "postgres", name], check=True,
                       capture_output=True)
        busy, started = machine_busy(), time.perf_counter()
        done = subprocess.run(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-c", str(clients), "-j",
                               str(threads), "-T", str(seconds), name], check=True, capture_output=True, text=True)
        cpu = CpuShare(machine=machine_busy() - busy, seconds=time.perf_counter() - started)
        for line in done.stdout.splitlines():
            if line.startswith("tps ="):
                return float(line.split()[2]), cpu
        raise RuntimeError(done.stdout)
    finally:
        scratch.drop_pg(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="opportunities to create (tasks completed)")
    parser.add_argument("--sample", type=int, default=40, help="completions whose statements are counted")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=15, help="pgbench duration")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--warmup", type=int, default=40, help="completions over HTTP before the timed ones")
    parser.add_argument("--floor", type=int, default=100, help="in-process completions beside their statements")
    args = parser.parse_args()

    name = scratch.create_pg()
    url = scratch.pg_url(name)
    try:
        total = args.tasks + args.sample + args.warmup + args.floor + 2
        print(f"preparing {total} opportunities on PostgreSQL …", flush=True)
        app = prepare(url, total)
        ids = open_assign_tasks(app)
        service_counts, request_counts = count_statements(app, ids[:args.sample])
        with app.app_context():
            manager_id = db.session.scalar(select(User.id).where(User.username == "manager1"))
            db.session.remove()
        used = args.sample + args.floor + 2
        floor = floor_costs(app, ids[args.sample:used], manager_id)
        with app.app_context():
            db.engine.dispose()
        rate, elapsed, cpu = http_rate(url, ids[used:], args.clients, manager_id, warmup=args.warmup,
                                       workers=args.workers)
        tps, pg_cpu = pgbench_rate(args.clients, args.seconds)
        tps_j2, pg_cpu_j2 = pgbench_rate(args.clients, args.seconds, threads=2)
    finally:
        scratch.drop_pg(name)

    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| SQL statements per completion, service call (median of {len(service_counts)}) | "
          f"{statistics.median(service_counts):g} (min {min(service_counts)}, max {max(service_counts)}) |")
    print(f"| SQL statements per completion, whole API request (median of {len(request_counts)}) | "
          f"{statistics.median(request_counts):g} (min {min(request_counts)}, max {max(request_counts)}) |")
    timed = len(ids) - used - args.warmup
    print(f"| completions/s over HTTP (gunicorn -w {args.workers}, {args.clients} clients, {timed} tasks "
          f"in {elapsed:.1f} s after {args.warmup} untimed) | {rate:.1f} |")
    print(f"| pgbench -c{args.clients} tps (same run, same server) | {tps:.0f} |")
    print(f"| ratio completions/s ÷ pgbench -c{args.clients} tps | {rate / tps:.3f} |")
    print(f"| pgbench -c{args.clients} -j2 tps (two pgbench threads) | {tps_j2:.0f} |")
    print(f"| ratio completions/s ÷ pgbench -c{args.clients} -j2 tps | {rate / tps_j2:.3f} |")
    done = rate * cpu.seconds
    cores = os.cpu_count() or 1
    print(f"| CPU per completion: gunicorn workers / PostgreSQL / HTTP clients (ms) | "
          f"{cpu.app / done * 1000:.2f} / {cpu.database / done * 1000:.2f} / {cpu.clients / done * 1000:.2f} |")
    print(f"| CPU per completion, whole machine (ms; {cpu.machine / cpu.seconds:.2f} of {cores} cores busy) | "
          f"{cpu.machine / done * 1000:.2f} |")
    for label, (run_tps, run_cpu) in ((f"-c{args.clients}", (tps, pg_cpu)),
                                      (f"-c{args.clients} -j2", (tps_j2, pg_cpu_j2))):
        print(f"| CPU per pgbench {label} transaction, whole machine (ms; {run_cpu.machine / run_cpu.seconds:.2f} "
              f"of {cores} cores busy) | {run_cpu.machine / (run_tps * run_cpu.seconds) * 1000:.3f} |")
    print(f"| app CPU per API completion in-process (test client, no HTTP; median of 4 rounds of "
          f"{args.floor // 4}) (ms) | {floor.completion:.2f} |")
    print(f"| its {floor.statements} statements replayed in one transaction: through SQLAlchemy (exec_driver_sql) "
          f"/ through psycopg alone (ms; share of the completion) | {floor.core:.2f} / {floor.driver:.2f} "
          f"({floor.core / floor.completion:.0%} / {floor.driver / floor.completion:.0%}) |")


if __name__ == "__main__":
    main()
