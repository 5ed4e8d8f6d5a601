"""Latency of diagram code: in-process fast path, worker round trip, and the old in-process run as a baseline.

Run: .venv/bin/python bench/sandbox.py [--repeat 2000]

Prints median and 95th-percentile microseconds per call for a gateway condition and an assignee expression
(fast path, evaluated here), an expression and a small script that go to a worker process, the same two run
the old way (traced, in this process, no isolation), and plain eval() of the compiled condition. The first call,
which starts the worker, is not counted.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

from bpm_crm.engine import sandbox
from bpm_crm.engine.sandbox_compiler import compile_code
from bpm_crm.engine.sandbox_interpreter import expression_value, script_changes

DATA: dict[str, Any] = {
    "decision": "success",
    "assignee_id": 42,
    "amount": 12000,
    "items": [3, 1, 2, 7, 5],
    "lines": [{"qty": 2, "price": 10.0}, {"qty": 1, "price": 5.5}, {"qty": 4, "price": 2.25}],
    "customer": {"name": "ACME", "level": "gold", "tags": ["north", "retail"]},
}
CONDITION = 'decision == "success"'
ASSIGNEE = "assignee_id"
EXPRESSION = "sum(i for i in items) > 10 and amount * 1.2 > 10000"
SCRIPT = """
total = 0
for line in lines:
    total += line["qty"] * line["price"]
band = "high" if total > 20 else "low"
label = f"{customer['name']}-{band}"
"""


def _old_evaluate(source: str) -> Any:
    return expression_value(compile_code("eval", source).code, DATA, timeout=1.0)


def _old_execute(source: str) -> None:
    data = dict(DATA)
    updates, removals = script_changes(compile_code("exec", source).code, copy.deepcopy(data), data, timeout=1.0)
    for name in removals:
        del data[name]
    data.update(updates)


def _new_execute(source: str) -> None:
    sandbox.execute(source, dict(DATA))


PLAIN_CONDITION = compile(CONDITION, "<bench>", "eval")


def _plain_eval() -> Any:
    return eval(PLAIN_CONDITION, {"__builtins__": {}}, DATA)  # noqa: S307 - the baseline being measured


def measure(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and 95th percentile of `repeat` calls, in microseconds."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    rows: list[tuple[str, str, Callable[[], Any]]] = [
        ("condition, fast path", CONDITION, lambda: sandbox.evaluate(CONDITION, DATA)),
        ("assignee, fast path", ASSIGNEE, lambda: sandbox.evaluate(ASSIGNEE, DATA)),
        ("condition, plain eval()", CONDITION, _plain_eval),
        ("expression, worker", EXPRESSION, lambda: sandbox.evaluate(EXPRESSION, DATA)),
        ("expression, old in-process", EXPRESSION, lambda: _old_evaluate(EXPRESSION)),
        ("script, worker", "5-line script", lambda: _new_execute(SCRIPT)),
        ("script, old in-process", "5-line script", lambda: _old_execute(SCRIPT)),
    ]
    print(f"{'case':28} {'code':54} {'median µs':>10} {'p95 µs':>10}")
    for label, code, call in rows:
        median, p95 = measure(call, args.repeat)
        print(f"{label:28} {code[:54]:54} {median:10.1f} {p95:10.1f}")


if __name__ == "__main__":
    main()
