"""Diagram code runs where it can be stopped: worker processes with hard limits, and a bounded fast path."""
from __future__ import annotations

import copy
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bpm_crm.engine import sandbox_pool, sandbox_wire
from bpm_crm.engine.sandbox import (
    SandboxError,
    SandboxTimeout,
    UnsafeCode,
    check_expression,
    check_script,
    evaluate,
    execute,
)

BOUND = 0.3  # the time bound given to hostile code in these tests
STOPPED_WITHIN = BOUND + sandbox_pool.GRACE + 1.0  # kill, reap and slack on a busy machine

LONG = 'x = "a" * 1000000\nz = "a" * 999999 + "b"\n'  # equal up to the last of a million characters
COLLIDING = "keys = [i * 2305843009213693951 for i in range(60000)]\n"  # all hash to 0

# Each is one C-level call that runs for seconds to minutes without ever reaching the line tracer.
HOSTILE_SCRIPTS = [
    ("in", LONG + "r = z in [x] * 300000"),
    ("list.count", LONG + "r = ([x] * 300000).count(z)"),
    ("list.index", LONG + "r = ([x] * 300000).index(z)"),
    ("sorted", LONG + "r = sorted([x, z] * 150000)"),
    ("min", LONG + "r = min([z, x] * 150000)"),
    ("max", LONG + "r = max([x, z] * 150000)"),
    ("list equality", 'x = "a" * 1000000\ny = "a" * 999999 + "a"\nr = [x] * 300000 == [y] * 300000'),
    ("tuple ordering", 'x = "a" * 1000000\ny = "a" * 999999 + "a"\nr = tuple([x] * 300000) < tuple([y] * 300000)'),
    ("shared structure", "a = [0]\nb = [0]\nfor i in range(60):\n    a = [a, a]\n    b = [b, b]\nr = a == b"),
    ("set of colliding ints", COLLIDING + "r = set(keys)"),
    ("set.update colliding", COLLIDING + "r = set()\nr.update(keys)"),
    ("dict.fromkeys colliding", COLLIDING + "r = dict.fromkeys(keys)"),
    ("dict of colliding pairs", COLLIDING + "r = dict(zip(keys, keys))"),
    ("colliding in set", COLLIDING + "r = len({k for k in keys})"),
    ("big-int parsing", 'r = sorted(["9" * 4000] * 200000, key=int)'),
]

HOSTILE_EXPRESSIONS = [
    ("brief's set", "set([i * 2305843009213693951 for i in range(60000)])"),
    ("brief's in", '("a" * 999999 + "b") in ["a" * 1000000] * 300000'),
    ("sorted", 'sorted(["a" * 1000000, "a" * 999999 + "b"] * 150000)'),
]


def _stopped(run: Any) -> float:
    started = time.monotonic()
    with pytest.raises(SandboxTimeout, match=f"did not finish within {BOUND:g} s"):
        run()
    elapsed = time.monotonic() - started
    assert elapsed < STOPPED_WITHIN
    return elapsed


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", [s for _, s in HOSTILE_SCRIPTS], ids=[n for n, _ in HOSTILE_SCRIPTS])
def test_c_level_work_in_a_script_is_stopped(source: str) -> None:
    check_script(source)
    data: dict[str, Any] = {"keep": 1}
    _stopped(lambda: execute(source, data, timeout=BOUND))
    assert data == {"keep": 1}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", [s for _, s in HOSTILE_EXPRESSIONS], ids=[n for n, _ in HOSTILE_EXPRESSIONS])
def test_c_level_work_in_an_expression_is_stopped(source: str) -> None:
    check_expression(source)
    _stopped(lambda: evaluate(source, {}, timeout=BOUND))


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "source",
    [
        "r = x.count(z)", "r = x.find(z)", "r = x.rfind(z)", "r = len(x.split('a'))", "r = len(x.upper())",
        "r = x.replace('a', 'b') == z", "r = x.strip('a')", "r = x.partition(z)", "r = x < z",
        "r = x.startswith(z) or x.endswith(z)", "r = len(x.splitlines())", "r = z in x",
    ],
)
def test_text_methods_over_a_million_characters_finish_or_stop(source: str) -> None:
    started = time.monotonic()
    try:
        execute(LONG + source, {}, timeout=BOUND)
    except (SandboxError, SandboxTimeout):
        pass
    assert time.monotonic() - started < STOPPED_WITHIN


@pytest.mark.timeout(30)
def test_memory_bomb_in_one_c_call_is_stopped_and_the_worker_recovers() -> None:
    source = "x = list(range(1000000))\ny = [list(zip(x, x, x, x, x, x, x, x)) for i in range(10)]"
    with pytest.raises(SandboxError, match="too much memory"):
        execute(source, {}, timeout=5)
    assert evaluate("len(list(range(10)))", {}) == 10


def _hostile_in_background(timeout: float) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            execute(LONG + "r = z in [x] * 300000", {}, timeout=timeout)
        except Exception as exc:  # handed to the main thread for the assertions
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.timeout(30)
def test_other_threads_keep_running_while_hostile_code_is_stopped() -> None:
    requests: queue.Queue[float | None] = queue.Queue()
    answers: queue.Queue[float] = queue.Queue()

    def responder() -> None:  # stands in for a web request served by another thread
        while (sent := requests.get()) is not None:
            sum(range(10_000))
            answers.put(time.monotonic() - sent)

    server = threading.Thread(target=responder)
    server.start()
    hostile, outcome = _hostile_in_background(timeout=1.0)
    started = time.monotonic()
    latencies = []
    while hostile.is_alive() and time.monotonic() - started < 10:
        requests.put(time.monotonic())
        latencies.append(answers.get(timeout=5))
        time.sleep(0.02)
    requests.put(None)
    server.join(timeout=10)
    hostile.join(timeout=10)
    assert isinstance(outcome.get("error"), SandboxTimeout)
    assert outcome["elapsed"] < 1.0 + sandbox_pool.GRACE + 1.0
    assert len(latencies) > 10
    assert max(latencies) < 0.25


def _resident_mb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


@pytest.mark.timeout(60)
def test_memory_held_by_another_thread_does_not_count_against_diagram_code() -> None:
    before = _resident_mb()
    held: list[bytes] = []
    allocating = threading.Event()

    def hog() -> None:
        allocating.set()
        for _ in range(40):  # 400 MB, grown while the diagram code runs
            held.append(b"x" * (10 << 20))
            time.sleep(0.005)

    thread = threading.Thread(target=hog)
    thread.start()
    allocating.wait()
    results = [evaluate("len([i * 2 for i in range(200000)])", {}) for _ in range(5)]
    thread.join()
    peak = _resident_mb()
    results.append(evaluate("len([i * 2 for i in range(200000)])", {}))
    held.clear()
    assert results == [200000] * 6
    assert peak - before >= 350


COMPILE_BOMBS = [
    ("100,000 nots", "not " * 100_000 + "x"),
    ("3,000 nested lambdas", "lambda: " * 3_000 + "1"),
    ("40,000 unary minus", "-" * 40_000 + "x"),
    ("20,000 additions", "+".join(["x"] * 20_000)),
    ("attribute chain", "x" + ".y" * 20_000),
    ("call chain", "f" + "()" * 20_000),
    ("subscript chain", "x" + "[0]" * 15_000),
    ("nested conditionals", " if a else ".join(["1"] * 4_000)),
    ("nested brackets", "[" * 150 + "]" * 150),
    ("100,000 'and's", " and ".join(["x"] * 100_000)),
    ("nested comprehensions", "[" * 120 + "x" + " for x in y]" * 120),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", [s for _, s in COMPILE_BOMBS], ids=[n for n, _ in COMPILE_BOMBS])
def test_hostile_nesting_is_refused_at_deploy_without_crashing(source: str) -> None:
    started = time.monotonic()
    for check, text in ((check_expression, source), (check_script, "y = " + source)):
        with pytest.raises(UnsafeCode) as info:
            check(text)
        assert info.value.problems and all(problem.startswith("line ") for problem in info.value.problems)
    assert time.monotonic() - started < 2


def test_deeply_nested_script_blocks_are_refused() -> None:
    source = "".join("    " * depth + "if x:\n" for depth in range(120)) + "    " * 120 + "y = 1\n"
    with pytest.raises(UnsafeCode):
        check_script(source)


@pytest.mark.parametrize(
    "source",
    [
        "10**10**8", "2**10**10", "1 << 100000", "'ab' * 10**9", "[0] * 2 * 10**9", "(1,) * 10**7",
        "'a' * 600000 + 'b' * 600000", "-(10**10**8)", "lambda: 9**9**9", "[n for n in [10**10**8]]",
    ],
)
def test_provably_huge_constants_are_refused_at_deploy(source: str) -> None:
    with pytest.raises(UnsafeCode, match=r"^line 1: .*too large"):
        check_expression(source)
    with pytest.raises(UnsafeCode, match="too large"):
        check_script(f"x = 1\ny = {source}")


@pytest.mark.parametrize("source", ["2**64", "'-' * 40", "10**6 * 3", "1 << 62", "2 ** -1", "[0] * 100", "10**100"])
def test_ordinary_constants_pass(source: str) -> None:
    check_expression(source)
    assert evaluate(source, {}) == eval(source)  # noqa: S307 - constant arithmetic, compared


@pytest.mark.parametrize(
    "source",
    [
        "[0 for items[0] in [99]]", "[0 for thresholds.x in [1]]", "{0 for (a, items[0]) in [(1, 2)]}",
        "{k: 0 for k, items[1] in [(1, 2)]}", "sum(0 for items[0] in [1])",
    ],
)
def test_expressions_cannot_write_through_comprehension_targets(source: str) -> None:
    data = {"items": [1, 2], "thresholds": {"x": 0}}
    with pytest.raises(UnsafeCode, match="can only name variables"):
        check_expression(source)
    with pytest.raises(UnsafeCode):
        evaluate(source, data)
    assert data == {"items": [1, 2], "thresholds": {"x": 0}}


def test_expressions_work_on_an_isolated_copy() -> None:
    data: dict[str, Any] = {"items": [1, 2], "nested": {"a": [1]}, "pairs": [(1, 2)]}
    before = copy.deepcopy(data)
    assert evaluate("[k for k, v in pairs]", data) == [1]
    value = evaluate("[items, nested][:]", data)  # a slice is not on the fast path
    value[0].append(3)
    value[1]["a"].append(2)
    assert data == before


def test_gateway_conditions_and_assignees_stay_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_worker() -> None:
        raise AssertionError("a worker was used")

    monkeypatch.setattr(sandbox_pool, "shared_pool", no_worker)
    data = {"decision": "success", "assignee_id": 7, "thresholds": {"director": 5}, "approved": False,
            "status": "won", "items": [1, 2, 3], "amount": 10}
    assert evaluate('decision == "success"', data) is True
    assert evaluate("assignee_id", data) == 7
    assert evaluate('amount > thresholds["director"] and not approved', data) is True
    assert evaluate('status in ("won", "lost")', data) is True
    assert evaluate("items[-1] if amount >= 10 else -amount", data) == 3
    with pytest.raises(SandboxError, match="'missing' is not defined"):
        evaluate("missing == 1", data)
    with pytest.raises(AssertionError, match="a worker was used"):
        evaluate("len(items)", data)


def _wait_until_dead(pid: int, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"process {pid} is still running")


@pytest.mark.timeout(30)
def test_a_killed_worker_is_replaced_transparently() -> None:
    assert evaluate("sum(items)", {"items": [1, 2]}) == 3
    pool = sandbox_pool.shared_pool()
    killed = pool.worker_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    for pid in killed:
        _wait_until_dead(pid)
    assert evaluate("sum(items)", {"items": [1, 2]}) == 3
    assert not set(pool.worker_pids()) & set(killed)


@pytest.mark.timeout(30)
def test_a_worker_killed_mid_run_fails_that_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = sandbox_pool.WorkerPool(1)
    monkeypatch.setattr(sandbox_pool, "shared_pool", lambda: pool)
    outcome: dict[str, BaseException] = {}

    def slow() -> None:
        try:
            execute("for i in range(10**6):\n    for j in range(10**6):\n        pass", {}, timeout=5)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    try:
        assert evaluate("len(items)", {"items": []}) == 0
        [pid] = pool.worker_pids()
        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=10)
        assert isinstance(outcome.get("error"), SandboxError)
        assert "stopped unexpectedly" in str(outcome["error"])
        assert evaluate("sum(items)", {"items": [4]}) == 4
        assert pool.worker_pids() != [pid]
    finally:
        pool.close()


@pytest.mark.timeout(60)
def test_concurrent_evaluations_from_several_threads() -> None:
    results: dict[int, list[Any]] = {}

    def work(n: int) -> None:
        results[n] = [
            evaluate("sum(x * 2 for x in items) + offset", {"items": [n, i], "offset": n}) for i in range(15)
        ]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    hostile, outcome = _hostile_in_background(timeout=BOUND)
    for thread in [*threads, hostile]:
        thread.join(timeout=30)
    assert all(not thread.is_alive() for thread in threads)
    assert isinstance(outcome.get("error"), SandboxTimeout)
    assert results == {n: [(n + i) * 2 + n for i in range(15)] for n in range(8)}
    assert len(sandbox_pool.shared_pool().worker_pids()) <= sandbox_pool.WORKERS


@pytest.mark.timeout(60)
def test_a_forked_child_starts_its_own_workers_and_leaves_the_parents_alone() -> None:
    assert evaluate("sum(items)", {"items": [1]}) == 1
    parent_pool = sandbox_pool.shared_pool()
    busy, outcome = _hostile_in_background(timeout=1.0)  # inside an evaluation when the fork happens
    time.sleep(0.1)
    before = parent_pool.worker_pids()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        status = 1
        try:
            os.close(read_end)
            value = evaluate("sum(items)", {"items": [2, 3]})
            report = {"value": value, "pids": sandbox_pool.shared_pool().worker_pids()}
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = json.loads(reader.read() or b"{}")
    _, status = os.waitpid(pid, 0)
    busy.join(timeout=10)
    assert os.waitstatus_to_exitcode(status) == 0
    assert isinstance(outcome.get("error"), SandboxTimeout)
    assert report["value"] == 5
    assert report["pids"] and not set(report["pids"]) & set(before)
    assert evaluate("sum(items)", {"items": [6]}) == 6
    assert sandbox_pool.shared_pool() is parent_pool


FAKE_WORKER = """\
import json, sys
kind = sys.argv[1]
replies = {
    "colliding set": json.dumps({"ok": True, "value": {"$set": [i * 2305843009213693951 for i in range(20000)]}}),
    "too large": "[" + "1," * (40 << 20) + "1]",
}
reply = replies.get(kind, kind).encode() + b"\\n"
sys.stdout.buffer.write(b'{"ready":true}\\n')
sys.stdout.buffer.flush()
for line in sys.stdin.buffer:
    if kind == "exit":
        sys.exit(0)
    sys.stdout.buffer.write(reply)
    sys.stdout.buffer.flush()
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "reply",
    ["not json", "colliding set", '{"ok": true, "value": {"$evil": 1}}', "too large", "exit",
     '{"ok": true}\n{"ok": true}', '{"ok": true, "value": {"$decimal": "1e999999999"}}'],
    ids=["garbage", "colliding set", "unknown tag", "too large", "exits", "two replies", "huge decimal"],
)
def test_a_misbehaving_worker_cannot_harm_the_caller(monkeypatch: pytest.MonkeyPatch, reply: str) -> None:
    monkeypatch.setattr(sandbox_pool, "_BOOTSTRAP", FAKE_WORKER.replace("sys.argv[1]", repr(reply)))
    pool = sandbox_pool.WorkerPool(1)
    try:
        started = time.monotonic()
        with pytest.raises(sandbox_pool.WorkerFailed):
            pool.call(sandbox_wire.dumps({"mode": "eval"}), timeout=1.0)
        assert time.monotonic() - started < 1.0 + sandbox_pool.GRACE + 1.0
        assert pool.worker_pids() == []
    finally:
        pool.close()


def test_task_data_types_survive_the_trip() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    created = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    data: dict[str, Any] = {"created": created, "day": date(2024, 1, 2), "amount": Decimal("12.50"),
                            "pair": (1, 2), "tags": {"a"}, "by_id": {1: "x"}, "odd": {"$tuple": 1},
                            "opaque": object()}
    assert evaluate("tuple([created, day, amount, pair, tags, by_id, odd])", data) == (
        created, date(2024, 1, 2), Decimal("12.50"), (1, 2), {"a"}, {1: "x"}, {"$tuple": 1})
    with pytest.raises(SandboxError, match="'opaque' holds a object value"):
        evaluate("len([opaque])", data)
    execute("label = by_id[1] + str(amount)\nnested = {2: pair}", data)
    assert data["label"] == "x12.50" and data["nested"] == {2: (1, 2)}
    assert data["created"] is created


def test_run_time_errors_keep_their_cause_type() -> None:
    with pytest.raises(SandboxError, match="^line 2: division by zero$") as info:
        execute("a = 1\nb = a / 0", {})
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(SandboxError, match="there is no key 'k'") as info:
        evaluate("{}['k'] + 1", {})
    assert isinstance(info.value.__cause__, KeyError)


ORPHANING_SERVER = """\
import os, threading, time
from bpm_crm.engine import sandbox, sandbox_pool
sandbox.evaluate("len([1])", {})
print(sandbox_pool.shared_pool().worker_pids()[0], flush=True)
threading.Thread(target=sandbox.execute, args=(%r, {}), kwargs={"timeout": 0.3}, daemon=True).start()
time.sleep(0.2)
os._exit(0)  # the server dies without stopping its worker, which is inside one long C call
"""


@pytest.mark.timeout(30)
def test_a_worker_left_behind_by_a_dead_server_stops_on_its_cpu_limit() -> None:
    script = ORPHANING_SERVER % (LONG + "r = z in [x] * 300000")
    root = Path(__file__).resolve().parents[2]
    server = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, check=True,
                            timeout=20)
    _wait_until_dead(int(server.stdout.split()[0]), within=15)
