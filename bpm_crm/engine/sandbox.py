"""Restricted evaluation of the expressions and scripts process owners write into BPMN diagrams.

An expression that can only name, compare, negate and index task data with constant keys (a gateway's
`decision == "success"`, an assignee's `assignee_id`) runs here: its work is linear in the data it touches.
Everything else runs in a worker process (sandbox_pool), because one C-level operation (`sorted`, `in`,
a set of colliding keys) can outlast any in-process time bound while holding the GIL. The worker is killed
once the time bound plus a grace period has passed, and it runs under RLIMIT_AS and RLIMIT_CPU, so the
memory budget counts only what the diagram code allocates. Settings, read from the environment at import:

- BPM_CRM_SANDBOX_WORKERS: worker processes per server process (default 2)
- BPM_CRM_SANDBOX_MEMORY_MB: memory one run may allocate in its worker (default 256)
- BPM_CRM_SANDBOX_GRACE: seconds past the time bound before a worker is killed (default 0.5)
"""
from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any

from bpm_crm import clock
from bpm_crm.engine import sandbox_pool, workdays
from bpm_crm.engine import sandbox_wire as wire
from bpm_crm.engine.sandbox_compiler import Mode, UnsafeCode
from bpm_crm.engine.sandbox_compiler import compile_code as _compile
from bpm_crm.engine.sandbox_guards import (
    MAX_FORMAT_NUMBER,
    MAX_INT_BITS,
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    MAX_SIZE,
    Refused,
    SandboxError,
    SandboxTimeout,
)
from bpm_crm.engine.sandbox_interpreter import expression_value

__all__ = [
    "MAX_FORMAT_NUMBER", "MAX_INT_BITS", "MAX_MEMORY_GROWTH", "MAX_OUTPUT_CHARS", "MAX_RANGE", "MAX_SIZE",
    "SandboxError", "SandboxTimeout", "UnsafeCode", "check_expression", "check_script", "evaluate", "execute",
    "reserved_names",
]

MAX_MEMORY_GROWTH = int(os.environ.get("BPM_CRM_SANDBOX_MEMORY_MB", "256")) << 20  # per run, in its worker

# Exception types a worker may name as the cause of an error; anything else comes back as RuntimeError.
_CAUSES: dict[str, type[Exception]] = {
    name: value for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
}
_CAUSES["Refused"] = Refused


def reserved_names() -> frozenset[str]:
    """Names diagram code already means something by: data must not shadow them."""
    from bpm_crm.engine.sandbox_guards import EXEC_GLOBALS

    return frozenset(EXEC_GLOBALS["__builtins__"]) | frozenset(EXEC_GLOBALS)


def check_expression(source: str) -> None:
    """Raise UnsafeCode unless `source` is a single expression the sandbox will run."""
    _compile("eval", source)


def check_script(source: str) -> None:
    """Raise UnsafeCode unless `source` is a script the sandbox will run."""
    _compile("exec", source)


def _rebuilt_cause(cause: Any) -> Exception:
    if not isinstance(cause, dict):
        return RuntimeError("the sandbox worker gave no cause")
    name = str(cause.get("type"))[:100]
    raw = cause.get("args")
    args = [arg for arg in raw if isinstance(arg, (str, int, float)) or arg is None] if isinstance(raw, list) else []
    kind = _CAUSES.get(name)
    try:
        return kind(*args) if kind is not None else RuntimeError(f"{name}: {args}")
    except Exception:  # builtin exceptions that need particular arguments
        return RuntimeError(f"{name}: {args}")


def _in_worker(mode: Mode, source: str, variables: dict[str, Any], unreadable: dict[str, str],
               timeout: float) -> dict[str, Any]:
    request = {
        "mode": mode, "source": source, "timeout": float(timeout), "memory": MAX_MEMORY_GROWTH,
        "now": clock.now().isoformat(), "data": variables, "unreadable": unreadable,
        # The worker reads no configuration: the working hours this run was handed go with each request.
        "hours": [list(span) for span in workdays.hours_in_effect().spans],
    }
    try:
        reply = sandbox_pool.shared_pool().call(wire.dumps(request), timeout)
    except sandbox_pool.WorkerOverrun:
        raise SandboxTimeout(f"the code did not finish within {timeout:g} s") from None
    except sandbox_pool.WorkerFailed as exc:
        raise SandboxError(str(exc)) from None
    if reply.get("ok") is True:
        return reply
    kind, message = reply.get("kind"), str(reply.get("message"))
    if kind == "unsafe":
        problems = reply.get("problems")
        raise UnsafeCode([str(problem) for problem in problems] if isinstance(problems, list) else [message])
    if kind == "timeout":
        raise SandboxTimeout(message)
    raise SandboxError(message) from _rebuilt_cause(reply.get("cause"))


def evaluate(source: str, data: Mapping[str, Any], *, timeout: float = 1.0) -> Any:
    """Value of expression `source` with `data` as its variables; `data` is never changed."""
    program = _compile("eval", source)
    if program.fast:
        return expression_value(program.code, data, timeout=timeout, traced=False)
    return _in_worker("eval", source, *wire.pack_variables(data), timeout).get("value")


def execute(source: str, data: dict[str, Any], *, timeout: float = 1.0) -> None:
    """Run script `source` on `data`, then keep its new and changed JSON-serialisable variables in `data`."""
    _compile("exec", source)
    variables, unreadable = wire.pack_variables(data)
    reply = _in_worker("exec", source, variables, unreadable, timeout)
    updates, removals = reply.get("updates"), reply.get("removals")
    if not isinstance(updates, dict) or not isinstance(removals, list):
        raise SandboxError("the sandbox worker sent an unexpected reply")
    # Only names the script could have seen or made, whatever the worker says.
    for name in removals:
        if isinstance(name, str) and name in variables:
            del data[name]
    data.update(
        (name, value) for name, value in updates.items() if name.isidentifier() and not name.startswith("_")
    )
