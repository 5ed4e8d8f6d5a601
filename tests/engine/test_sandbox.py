"""The sandbox refuses escapes and resource bombs, and runs ordinary diagram code."""
from __future__ import annotations

import copy
import pickle
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bpm_crm.engine import sandbox
from bpm_crm.engine.sandbox import (
    SandboxError,
    SandboxTimeout,
    UnsafeCode,
    check_expression,
    check_script,
    evaluate,
    execute,
)

# (source, where it must be stopped): "check" = UnsafeCode at deploy time, "run" = at run time.
ESCAPE_EXPRESSIONS = [
    ("__import__('os')", "check"),
    ("import os", "check"),
    ("().__class__.__base__.__subclasses__()", "check"),
    ("[].__class__", "check"),
    ("x.__class__.__mro__", "check"),
    ("getattr(x, '__class__')", "check"),
    ("x.__dict__", "check"),
    ("open('/etc/passwd').read()", "check"),
    ("eval('1')", "check"),
    ("exec('1')", "check"),
    ("compile('1', '', 'eval')", "check"),
    ("(lambda: 1).__globals__", "check"),
    ("(x for x in [1]).gi_frame.f_back", "check"),
    ("type(1)", "check"),
    ("globals()", "check"),
    ("locals()", "check"),
    ("vars()", "check"),
    ("breakpoint()", "check"),
    ("print('hello')", "check"),
    ("f'{x.__class__}'", "check"),
    ("f'{x:>1000000000}'", "check"),
    ("f'{x:{width}}'", "check"),
    ("[*items]", "check"),
    ("{**thresholds}", "check"),
    ("x = 1", "check"),
    ("'{0.__class__}'.format(1)", "run"),
    ("'{x}'.format_map({'x': 1})", "run"),
    ("10**10**8", "check"),
    ("2**100000000", "check"),
    ("pow(10, 10**8)", "run"),
    ("'a' * 10**10", "check"),
    ("[0] * 10**10", "check"),
    ("10**10 * 'a'", "check"),
    ("1 << 10**9", "check"),
    ("sum(x for x in range(10**9))", "run"),
    ("list(range(10**12))", "run"),
    ("'%s' % x", "run"),
    ("'%*d' % (10**9, 1)", "run"),
    ("'x'.ljust(10**9)", "run"),
    ("'x'.zfill(10**9)", "run"),
    ("'\\t'.expandtabs(10**9)", "run"),
    ("'ab'.replace('', 'x' * 1000000)", "run"),
    ("('x' * 1000).join(['a'] * 1000000)", "run"),
    ("str([['a' * 1000000] * 1000000])", "run"),
    ("f'{[\"a\" * 1000000] * 1000000}'", "run"),
    ("round(1, -10**9)", "run"),
    ("sum([[0]] * 10, [])", "run"),
    ("'x'.translate({120: 'y' * 1000000})", "run"),
    ("(1).to_bytes(10**9, 'big')", "run"),
    ("int.mro()", "run"),
    ("items.append(3)", "run"),
    ("thresholds.update(director=0)", "run"),
    ("lambda: 10**10**8", "check"),
    ("(y for y in items)", "run"),
]

ESCAPE_SCRIPTS = [
    ("import os", "check"),
    ("from os import system", "check"),
    ("while True:\n    pass", "check"),
    ("def f():\n    pass", "check"),
    ("class A:\n    pass", "check"),
    ("async def f():\n    pass", "check"),
    ("try:\n    x = 1\nexcept Exception:\n    pass", "check"),
    ("with x:\n    pass", "check"),
    ("raise ValueError('no')", "check"),
    ("global x", "check"),
    ("x = [(yield)]", "check"),
    ("assert x", "check"),
    ("_getattr_ = 1", "check"),
    ("x = 1\n__builtins__['len'] = 2", "check"),
    ("first, *rest = items", "check"),
    ("for i in range(10**12):\n    pass", "run"),
    ("s = 'ab'\nfor i in range(40):\n    s = s + s", "run"),
    ("s = 'ab'\nfor i in range(40):\n    s += s", "run"),
    ("s = 'ab'\nfor i in range(40):\n    s *= 2", "run"),
    ("l = [1]\nfor i in range(40):\n    l += l", "run"),
    ("l = [1]\nfor i in range(40):\n    l.extend(l)", "run"),
    ("l = [1]\nfor i in range(40):\n    l[:0] = l", "run"),
    ("n = 3\nfor i in range(100):\n    n = n * n", "run"),
    ("n = 3\nfor i in range(100):\n    n **= 2", "run"),
    ("n = 1\nfor i in range(100):\n    n <<= 1000", "run"),
]


def _refused(source: str, stage: str, script: bool) -> None:
    check = check_script if script else check_expression
    if stage == "check":
        with pytest.raises(UnsafeCode) as info:
            check(source)
        assert info.value.problems and all(p.startswith("line ") for p in info.value.problems)
        return
    check(source)  # passes the deploy-time check, so the run-time guards must stop it
    data: dict[str, Any] = {"x": 1, "items": [1, 2], "thresholds": {"director": 5}}
    started = time.monotonic()
    with pytest.raises((SandboxError, SandboxTimeout)):
        if script:
            execute(source, data, timeout=0.5)
        else:
            evaluate(source, data, timeout=0.5)
    assert time.monotonic() - started < 5
    assert data == {"x": 1, "items": [1, 2], "thresholds": {"director": 5}}


@pytest.mark.parametrize(("source", "stage"), ESCAPE_EXPRESSIONS, ids=[s for s, _ in ESCAPE_EXPRESSIONS])
def test_expression_escape_is_refused(source: str, stage: str) -> None:
    _refused(source, stage, script=False)


@pytest.mark.parametrize(("source", "stage"), ESCAPE_SCRIPTS, ids=[s for s, _ in ESCAPE_SCRIPTS])
def test_script_escape_is_refused(source: str, stage: str) -> None:
    _refused(source, stage, script=True)


def test_infinite_loop_in_script_hits_the_time_bound() -> None:
    started = time.monotonic()
    with pytest.raises(SandboxTimeout, match=r"^line [34]: the code did not finish within 0.2 s$"):
        execute("total = 0\nfor i in range(10**6):\n    for j in range(10**6):\n        total += 1", {},
                timeout=0.2)
    assert time.monotonic() - started < 2


def test_comprehension_bomb_hits_the_time_bound() -> None:
    with pytest.raises(SandboxTimeout):
        evaluate("sum(a * b for a in range(10**6) for b in range(10**6))", {}, timeout=0.2)


def test_memory_growth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_MEMORY_GROWTH", 64 * 1024 * 1024)
    with pytest.raises(SandboxError, match="too much memory"):
        execute("kept = []\nfor i in range(10**6):\n    kept.append([0] * 1000000)", {}, timeout=10)


def test_refusals_name_the_line() -> None:
    with pytest.raises(UnsafeCode) as info:
        check_script("a = 1\nb = 2\nimport os\nwhile a:\n    pass")
    assert info.value.problems == [
        "line 3: imports are not allowed",
        "line 4: 'while' loops are not allowed; loop with 'for' over a list or range()",
    ]


def test_expression_must_be_a_single_expression() -> None:
    with pytest.raises(UnsafeCode, match="single expression"):
        check_expression("a = 1")
    with pytest.raises(UnsafeCode, match="single expression"):
        check_expression("a\nb")
    with pytest.raises(UnsafeCode, match="syntax error"):
        check_expression("a >")
    with pytest.raises(UnsafeCode, match="empty"):
        check_expression("   ")


def test_unsafe_code_survives_pickling() -> None:
    with pytest.raises(UnsafeCode) as info:
        check_script("import os\nimport sys")
    copy_ = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own object
    assert copy_.problems == info.value.problems
    assert str(copy_) == str(info.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('decision == "success"', True),
        ("probability >= 50 and len(items) > 0", True),
        ('amount > thresholds["director"]', True),
        ('status in ("won", "lost")', False),
        ("not approved", True),
        ("amount * 1.2 if probability > 50 else 0", 14400.0),
        ("2 ** 10 + 7 % 3 - (1 << 4)", 1009),
        ('"ab" * 3', "ababab"),
        ("[i * 2 for i in items]", [6, 2, 4]),
        ("{k: v for k, v in thresholds.items() if v > 1000}", {"director": 10000}),
        ("sorted(items, key=lambda i: -i)", [3, 2, 1]),
        ("max(items) + min(items) + sum(items)", 10),
        ("round(2.567, 2)", 2.57),
        ('f"{amount:,.2f} EUR"', "12,000.00 EUR"),
        ('", ".join(str(i) for i in items)', "3, 1, 2"),
        ('"Won-Lost".lower().split("-")', ["won", "lost"]),
        ('status.ljust(8, ".")', "open...."),
        ("(n := len(items)) > 2 and n", 3),
        ("list(enumerate(zip(items, items)))[0]", (0, (3, 3))),
        ("any(i > 2 for i in items) and all(i > 0 for i in items)", True),
        ("thresholds.get('ceo', 0)", 0),
        ("items[1:]", [1, 2]),
    ],
)
def test_typical_conditions(source: str, expected: Any) -> None:
    data = {"decision": "success", "probability": 60, "items": [3, 1, 2], "amount": 12000,
            "thresholds": {"director": 10000}, "status": "open", "approved": False}
    check_expression(source)
    assert evaluate(source, data) == expected


def test_evaluate_does_not_change_its_input() -> None:
    data = {"items": [3, 1, 2], "nested": {"a": [1]}, "n": 1}
    before = copy.deepcopy(data)
    assert evaluate("sorted(items)", data) == [1, 2, 3]
    assert evaluate("(n := 5) + n", data) == 10
    with pytest.raises(SandboxError, match="cannot change data"):
        evaluate("items.sort()", data)
    with pytest.raises(SandboxError, match="cannot change data"):
        evaluate("nested['a'].append(2)", data)
    assert data == before


def test_evaluate_accepts_any_mapping_and_guards_against_shadowing() -> None:
    from types import MappingProxyType

    data = MappingProxyType({"amount": 3, "_getattr_": getattr, "__builtins__": __builtins__})
    assert evaluate("amount * 2", data) == 6
    with pytest.raises(SandboxError):
        evaluate("'{0.__class__}'.format(1)", data)


def test_script_builds_values() -> None:
    data: dict[str, Any] = {
        "lines": [{"qty": 2, "price": 10.0}, {"qty": 1, "price": 5.5}],
        "customer": "ACME",
        "stale": True,
    }
    execute(
        """
total = 0
for line in lines:
    total += line["qty"] * line["price"]
names = [f"{customer}-{i}" for i in range(2)]
summary = {"customer": customer, "total": total, "count": len(lines)}
if total > 20:
    band = "high"
else:
    band = "low"
lines.append({"qty": 0, "price": 0.0})
del stale
""",
        data,
    )
    assert data["total"] == 25.5
    assert data["names"] == ["ACME-0", "ACME-1"]
    assert data["summary"] == {"customer": "ACME", "total": 25.5, "count": 2}
    assert data["band"] == "high"
    assert len(data["lines"]) == 3
    assert "stale" not in data
    assert "line" in data  # loop variables are top-level variables too, as in SpiffWorkflow


def test_execute_keeps_only_json_values() -> None:
    created = datetime(2024, 5, 1, tzinfo=UTC)
    data: dict[str, Any] = {"created": created, "helper": 1, "count": 1}
    execute(
        """
square = lambda v: v * v
count = square(4)
helper = lambda: 0
generator = (i for i in range(3))
numbers = range(3)
unique = {1, 2}
ok = [1, {"a": (1, 2), "b": None, "c": 1.5, "d": True}]
cyclic = [1]
cyclic.append(cyclic)
""",
        data,
    )
    assert data == {"created": created, "count": 16, "ok": [1, {"a": (1, 2), "b": None, "c": 1.5, "d": True}]}
    assert data["created"] is created  # untouched values stay as the caller had them


def test_failed_script_leaves_data_untouched() -> None:
    data: dict[str, Any] = {"items": [1], "n": 1}
    with pytest.raises(SandboxError) as info:
        execute("items.append(2)\nn = 2\nx = n / 0", data)
    assert str(info.value) == "line 3: division by zero"
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert data == {"items": [1], "n": 1}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a = 1\nb = missing", "line 2: 'missing' is not defined (not in the task data)"),
        ("a = {}\nb = a['key']", "line 2: there is no key 'key'"),
        (
            "a = {}\nb = a.key",
            "line 2: AttributeError: 'dict' object has no attribute 'key' (read a key with ['name'])",
        ),
        ("a = [1]\nb = a[5]", "line 2: IndexError: list index out of range"),
        ("a = 1 + 'x'", "line 1: TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
        ("b = date_add('soon', 1)", "line 1: date_add(): 'soon' is not an ISO date like '2024-05-31'"),
    ],
)
def test_runtime_errors_are_plain(source: str, message: str) -> None:
    with pytest.raises(SandboxError) as info:
        execute(source, {})
    assert str(info.value) == message
    assert info.value.__cause__ is not None


def test_huge_key_in_error_is_not_rendered() -> None:
    with pytest.raises(SandboxError) as info:
        evaluate("{}[tuple(['a' * 1000000] * 1000000)]", {})
    assert len(str(info.value)) < 500
    assert len(str(info.value.__cause__)) < 1000


def test_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.clock, "now", lambda: datetime(2024, 2, 28, 15, 30, 5, 123, tzinfo=UTC))
    assert evaluate("today()", {}) == "2024-02-28"
    assert evaluate("now()", {}) == "2024-02-28T15:30:05+00:00"
    assert evaluate("date_add(today(), 2)", {}) == "2024-03-01"
    assert evaluate("date_add('2024-03-01', -1)", {}) == "2024-02-29"
    assert evaluate("date_add(now(), 1)", {}) == "2024-02-29T15:30:05+00:00"
    assert evaluate("days_between('2024-01-01', today())", {}) == 58
    assert evaluate("days_between('2024-03-01T10:00:00+01:00', '2024-02-28')", {}) == -2
    assert evaluate("days_between(signed, today()) > 30", {"signed": "2024-01-10"}) is True
    with pytest.raises(SandboxError, match="whole number of days"):
        evaluate("date_add(today(), 1.5)", {})
    with pytest.raises(SandboxError, match="not an ISO date"):
        evaluate("days_between(3, today())", {})


def test_compiled_code_is_cached() -> None:
    source = "probability >= 50 and status == 'x'  # cached"
    evaluate(source, {"probability": 1, "status": "x"})
    hits = sandbox._compile.cache_info().hits
    for _ in range(10):
        evaluate(source, {"probability": 60, "status": "x"})
    assert sandbox._compile.cache_info().hits == hits + 10


def _noop_trace(frame: Any, event: str, arg: Any) -> None:
    return None


def test_previous_trace_function_is_restored() -> None:
    original = sys.gettrace()
    sys.settrace(_noop_trace)
    try:
        evaluate("1 + 1", {})
        assert sys.gettrace() is _noop_trace
        with pytest.raises(SandboxTimeout):
            evaluate("sum(a for a in range(10**6) for b in range(10**6))", {}, timeout=0.05)
        assert sys.gettrace() is _noop_trace
        with pytest.raises(SandboxError):
            execute("x = 1 / 0", {})
        assert sys.gettrace() is _noop_trace
    finally:
        sys.settrace(original)


def test_time_bound_works_outside_the_main_thread() -> None:
    outcome: dict[str, Any] = {}

    def work() -> None:
        sys.settrace(_noop_trace)
        started = time.monotonic()
        try:
            evaluate("[a * b for a in range(10**6) for b in range(10**6)]", {}, timeout=0.2)
        except BaseException as exc:  # handed to the main thread for the assertions
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started
        outcome["trace"] = sys.gettrace()
        sys.settrace(None)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), SandboxTimeout)
    assert outcome["elapsed"] < 2
    assert outcome["trace"] is _noop_trace
