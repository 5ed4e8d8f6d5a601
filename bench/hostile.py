"""How long a hostile diagram or script can hold the server, and how another request fares meanwhile.

Run: .venv/bin/python bench/hostile.py

For every diagram of the hostile corpus (tests/engine/hostile) and every C-level script case (the
sandbox isolation tests' cases), it times what the product does with it — refuse it at deploy or
stop its run — while a probe thread of the same process keeps asking the app for its sign-in page
(GET /login through the Flask test client). It prints, per case, the outcome and the seconds it
took, then the worst case and the probe's median and worst latency over the whole run.
"""
from __future__ import annotations

import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scratch  # noqa: E402

from bpm_crm import create_app  # noqa: E402
from bpm_crm.engine import sandbox  # noqa: E402
from bpm_crm.engine.definitions import DefinitionInvalid, parse_definition  # noqa: E402
from bpm_crm.engine.runtime import EngineLimitExceeded, ProcessRuntime  # noqa: E402
from bpm_crm.engine.scripting import ScriptEngine  # noqa: E402

HOSTILE = sorted((ROOT / "tests" / "engine" / "hostile").glob("*.bpmn"))
EXPECT = re.compile(r"<!-- expect: (deploy|run) ")
LONG = 'x = "a" * 1000000\nz = "a" * 999999 + "b"\n'
COLLIDING = "keys = [i * 2305843009213693951 for i in range(60000)]\n"
SCRIPTS = [
    ("in over 300k long strings", LONG + "r = z in [x] * 300000"),
    ("sorted 300k long strings", LONG + "r = sorted([x, z] * 150000)"),
    ("list.count", LONG + "r = ([x] * 300000).count(z)"),
    ("set of colliding ints", COLLIDING + "r = set(keys)"),
    ("dict of colliding keys", COLLIDING + "r = dict.fromkeys(keys)"),
    ("big-int parsing", 'r = sorted(["9" * 4000] * 200000, key=int)'),
    ("memory bomb", "r = [0] * 900000\ns = [r] * 900000\nt = [x for x in s for y in r]"),
    ("while-free busy loop", "t = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        t += 1"),
]


class Probe(threading.Thread):
    """Asks the app for /login again and again, recording how long each answer took."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        client = self.app.test_client()
        while not self.stop.is_set():
            started = time.perf_counter()
            response = client.get("/login")
            self.latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            self.stop.wait(0.05)


def diagram_case(path: Path) -> tuple[str, float]:
    xml = path.read_text(encoding="utf-8")
    started = time.perf_counter()
    try:
        definition = parse_definition(xml, handler_names={"test.notify"})
    except DefinitionInvalid:
        return "refused at deploy", time.perf_counter() - started
    try:
        ProcessRuntime.start(definition, {}, ScriptEngine())
    except EngineLimitExceeded:
        return "stopped at run time", time.perf_counter() - started
    return "ran", time.perf_counter() - started


def script_case(source: str) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        sandbox.execute(source, {}, timeout=1.0)
    except sandbox.SandboxTimeout:
        return "stopped (time)", time.perf_counter() - started
    except sandbox.SandboxError as exc:
        return f"stopped ({str(exc)[:40]})", time.perf_counter() - started
    except sandbox.UnsafeCode:
        return "refused", time.perf_counter() - started
    return "ran", time.perf_counter() - started


def main() -> None:
    from flask_migrate import upgrade

    app = create_app(scratch.config(scratch.sqlite_url("hostile")))

    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    sandbox.evaluate("len([1])", {})  # start the worker pool before timing anything
    probe = Probe(app)
    probe.start()
    rows = []
    for path in HOSTILE:
        outcome, seconds = diagram_case(path)
        rows.append((f"diagram {path.stem}", outcome, seconds))
    for name, source in SCRIPTS:
        outcome, seconds = script_case(source)
        rows.append((f"script {name}", outcome, seconds))
    probe.stop.set()
    probe.join()

    print("| case | outcome | seconds |")
    print("|---|---|---|")
    for name, outcome, seconds in rows:
        print(f"| {name} | {outcome} | {seconds:.2f} |")
    worst = max(rows, key=lambda row: row[2])
    print()
    print(f"worst case: {worst[0]} — {worst[2]:.2f} s")
    print(f"GET /login meanwhile ({len(probe.latencies)} requests): median "
          f"{statistics.median(probe.latencies) * 1000:.0f} ms, worst {max(probe.latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
