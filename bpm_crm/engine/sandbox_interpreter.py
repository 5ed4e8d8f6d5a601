"""Runs compiled diagram code in the current process: the line-traced time bound, errors in plain words,
and which values an expression may give or a script may leave behind."""
from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator, Mapping
from typing import Any

from bpm_crm.engine.sandbox_compiler import FILENAME, Mode
from bpm_crm.engine.sandbox_guards import (
    EVAL_GLOBALS,
    EXEC_GLOBALS,
    MAX_OUTPUT_CHARS,
    SCALARS,
    Refused,
    SandboxError,
    SandboxTimeout,
    brief,
    measure,
)


def _failed_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException, memory_limit: int | None = None, unreadable: Mapping[str, str] | None = None) -> str:
    """What went wrong, in the words an operator reads on the task page."""
    if isinstance(exc, Refused):
        return str(exc)
    if isinstance(exc, NameError):
        name = getattr(exc, "name", None)
        if name and unreadable and name in unreadable:
            return f"'{name}' holds a {unreadable[name]} value, which diagram code cannot read"
        return f"'{name}' is not defined (not in the task data)" if name else str(exc)
    if isinstance(exc, KeyError):
        return f"there is no key {brief.repr(exc.args[0]) if exc.args else ''}"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, RecursionError):
        return "too many nested calls"
    if isinstance(exc, MemoryError):
        return f"the code used too much memory (over {memory_limit >> 20} MB)" if memory_limit else "ran out of memory"
    message = str(exc)
    if isinstance(exc, NotImplementedError) and "format" in message:
        return "str.format() is not available; use an f-string like f\"{name}: {amount}\""  # safer_getattr
    if isinstance(exc, AttributeError) and isinstance(getattr(exc, "obj", None), dict):
        message += " (read a key with ['name'])"
    message = message if len(message) <= 300 else message[:300] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _sanitise(exc: BaseException) -> None:
    # The original becomes __cause__; a KeyError holding a huge key would explode when logged.
    if any(not isinstance(arg, (str, int, float, type(None))) for arg in exc.args):
        exc.args = tuple(brief.repr(arg) for arg in exc.args)
    elif any(isinstance(arg, str) and len(arg) > 1000 for arg in exc.args):
        exc.args = tuple(arg[:1000] + "..." if isinstance(arg, str) else arg for arg in exc.args)


def run(
    code: types.CodeType,
    env: dict[str, Any],
    *,
    timeout: float,
    mode: Mode,
    traced: bool = True,
    memory_limit: int | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> Any:
    """Run `code` in `env`; with `traced`, a line tracer raises SandboxTimeout past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    monotonic = time.monotonic

    def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        if monotonic() > deadline:
            raise SandboxTimeout()
        # Line events only for diagram code; guards and helpers still get a check on every call.
        return tracer if frame.f_code.co_filename == FILENAME else None

    failure: Exception | None = None
    result: Any = None
    previous = sys.gettrace()
    if traced:
        sys.settrace(tracer)
    try:
        if mode == "eval":
            result = eval(code, env)  # noqa: S307 - RestrictedPython bytecode with guarded globals
        else:
            exec(code, env)  # noqa: S102 - RestrictedPython bytecode with guarded globals
    except Exception as exc:  # KeyboardInterrupt and SystemExit pass through untouched
        failure = exc
    finally:
        if traced:
            sys.settrace(previous)
    if failure is None:
        return result
    # The traceback keeps the frames, and through them env, alive for as long as the error lives.
    env.clear()
    line = _failed_line(failure) if mode == "exec" else None
    where = f"line {line}: " if line is not None else ""
    if isinstance(failure, SandboxTimeout):
        raise SandboxTimeout(f"{where}the code did not finish within {timeout:g} s") from None
    message = where + describe(failure, memory_limit, unreadable)
    _sanitise(failure)
    raise SandboxError(message) from failure


def expression_value(
    code: types.CodeType,
    data: Mapping[str, Any],
    *,
    timeout: float,
    traced: bool = True,
    memory_limit: int | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> Any:
    """Value of compiled expression `code` over `data`, refused if it is not a plain value of bounded size."""
    env = {**data, **EVAL_GLOBALS}
    result = run(code, env, timeout=timeout, mode="eval", traced=traced, memory_limit=memory_limit,
                 unreadable=unreadable)
    if type(result) in SCALARS:
        return result
    # A function or generator would run diagram code later, outside the time bound.
    if callable(result) or isinstance(result, Iterator):
        raise SandboxError("the expression gives a function or an iterator, not a value; use list(...)")
    try:
        size = measure(result, MAX_OUTPUT_CHARS, False, {})
    except RecursionError:
        raise SandboxError("the expression's value is nested too deeply") from None
    if size > MAX_OUTPUT_CHARS:
        raise SandboxError(f"the expression's value is too large (over {MAX_OUTPUT_CHARS:,} characters)")
    return result


def _unchanged(new: Any, old: Any) -> bool:
    try:
        return type(new) is type(old) and bool(new == old)
    except Exception:
        return False


def script_changes(
    code: types.CodeType,
    working: dict[str, Any],
    original: Mapping[str, Any],
    *,
    timeout: float,
    memory_limit: int | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Run compiled script `code` on `working` (a copy of `original`): its new or changed JSON values, and
    the names it deleted or rebound to something that is not a value."""
    env = {**working, **EXEC_GLOBALS}
    run(code, env, timeout=timeout, mode="exec", memory_limit=memory_limit, unreadable=unreadable)

    # Only names the script could see or make; '_' names are the guards and RestrictedPython's temporaries.
    visible = {name for name in original if isinstance(name, str) and not name.startswith("_")}
    updates: dict[str, Any] = {}
    removals = [name for name in visible if name not in env]
    budget = MAX_OUTPUT_CHARS
    for name, value in env.items():
        if not isinstance(name, str) or name.startswith("_"):
            continue
        if name in visible and _unchanged(value, original[name]):
            continue
        try:
            size = measure(value, budget, True, {})
        except RecursionError:
            size = -1
        if size < 0:
            if name in visible:
                removals.append(name)  # rebound to a function, module, ...: no longer a value
            continue
        budget -= size
        if budget < 0:
            raise SandboxError(f"the script produced too much data (over {MAX_OUTPUT_CHARS:,} characters)")
        updates[name] = value
    return updates, removals
