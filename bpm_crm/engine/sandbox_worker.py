"""The sandbox worker process: one JSON request per line on stdin, one JSON reply per line on stdout.

sandbox_pool starts it with `python -P -c <bootstrap>`. It runs diagram code with the guards and the
line tracer of sandbox_interpreter, under hard limits that only a separate process can have: RLIMIT_AS
(its address space before the run plus the request's memory budget) and RLIMIT_CPU (a backstop for a
worker whose parent is gone; the parent's wall-clock kill comes first). The parent sends task data, the
source, the time bound, the memory budget and its clock; the reply carries a value, a script's changes,
or an error kind with the message and the type and arguments of its cause.
"""
from __future__ import annotations

import math
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from bpm_crm.engine import sandbox_wire as wire
from bpm_crm.engine import workdays
from bpm_crm.engine.sandbox_compiler import UnsafeCode, compile_code
from bpm_crm.engine.sandbox_guards import SandboxError, SandboxTimeout, brief, request_time
from bpm_crm.engine.sandbox_interpreter import expression_value, script_changes

_PAGE = os.sysconf("SC_PAGE_SIZE")


class _AddressSpace:
    """Reads this process's virtual memory size; the file stays open, as it is read for every run."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None  # no /proc: runs are bounded by time only

    def size(self) -> int | None:
        if self._fd is None:
            return None
        try:
            return int(os.pread(self._fd, 64, 0).split()[0]) * _PAGE
        except (OSError, ValueError, IndexError):
            return None


def _set_soft(which: int, value: int) -> None:
    hard = resource.getrlimit(which)[1]
    if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
        value = hard
    resource.setrlimit(which, (value, hard))


class _Limits:
    """The hard limits around one run, and whether the process has grown enough to be replaced."""

    def __init__(self) -> None:
        self.space = _AddressSpace()
        self.baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
        self.budget = 256 << 20

    @contextmanager
    def bounded(self, memory: int, timeout: float) -> Iterator[None]:
        self.budget = memory
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _set_soft(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime + timeout) + 1)
        size = self.space.size()
        # Counted from now, so the decoded task data is not charged to the code.
        if size is not None:
            _set_soft(resource.RLIMIT_AS, size + memory)
        try:
            yield
        finally:
            _set_soft(resource.RLIMIT_AS, resource.RLIM_INFINITY)
            _set_soft(resource.RLIMIT_CPU, resource.RLIM_INFINITY)

    def grown(self) -> bool:
        # Freed memory is not always given back to the system: after a run that came near its budget
        # (the peak resident size says so), the worker is replaced rather than reused.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
        return peak > self.baseline + self.budget // 2


def _cause(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    args: list[str | int | float | None] = []
    for arg in exc.args[:4]:
        if isinstance(arg, str):
            args.append(arg[:1000])
        elif (isinstance(arg, (int, float)) and abs(arg) < 2**63) or arg is None:
            args.append(arg)
        else:
            args.append(brief.repr(arg))
    return {"type": type(exc).__name__, "args": args}


def _failure(kind: str, message: str, cause: BaseException | None = None) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message, "cause": _cause(cause)}


def _run(request: dict[str, Any], line: bytes, limits: _Limits) -> dict[str, Any]:
    mode, timeout, memory = request["mode"], float(request["timeout"]), int(request["memory"])
    unreadable: dict[str, str] = request["unreadable"]
    program = compile_code(mode, request["source"])
    if mode == "eval":
        with limits.bounded(memory, timeout):
            value = expression_value(program.code, request["data"], timeout=timeout, memory_limit=memory,
                                     unreadable=unreadable)
        try:
            return {"ok": True, "value": wire.to_wire(value)}
        except (wire.WireError, RecursionError) as exc:
            return _failure("error", f"the expression gives a value that cannot be passed on ({exc}); "
                                     "use list(...) or str(...)")
    original = wire.loads(line)["data"]  # a second, untouched copy to tell what the script changed
    with limits.bounded(memory, timeout):
        updates, removals = script_changes(program.code, request["data"], original, timeout=timeout,
                                           memory_limit=memory, unreadable=unreadable)
    packed = {}
    for name, value in updates.items():
        try:
            packed[name] = wire.to_wire(value)
        except (wire.WireError, RecursionError) as exc:
            return _failure("error", f"'{name}' cannot be kept ({exc})")
    return {"ok": True, "updates": packed, "removals": removals}


def _hours(raw: Any) -> workdays.WorkingHours | None:
    """The working hours the parent sent: [[start, end], …] in seconds of the day; None for the default."""
    try:
        spans = tuple((int(start), int(end)) for start, end in raw) if isinstance(raw, list) else ()
    except (TypeError, ValueError):
        return None
    if not spans or any(not 0 <= start < end <= 24 * 3600 for start, end in spans):
        return None
    return workdays.WorkingHours(spans)


def _answer(line: bytes, limits: _Limits) -> dict[str, Any]:
    request = wire.loads(line)
    token = request_time.set(datetime.fromisoformat(request["now"]))
    try:
        with workdays.using_hours(_hours(request.get("hours"))):
            return _run(request, line, limits)
    except UnsafeCode as exc:
        return {"ok": False, "kind": "unsafe", "problems": exc.problems}
    except SandboxTimeout as exc:
        return _failure("timeout", str(exc))
    except SandboxError as exc:
        return _failure("error", str(exc), exc.__cause__)
    except MemoryError:
        # Raised outside the code's own frames (while measuring its value, say): still the code's doing.
        return _failure("error", f"the code used too much memory (over {limits.budget >> 20} MB)")
    finally:
        request_time.reset(token)


def _send(replies: IO[bytes], reply: dict[str, Any]) -> None:
    try:
        message = wire.dumps(reply)
    except (ValueError, TypeError, RecursionError):
        message = wire.dumps(_failure("error", "the sandbox could not pass on the result"))
    replies.write(message)
    replies.flush()


def main() -> None:
    """Serve requests until the parent closes stdin."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    # Nothing else in this process may read the requests or write into the replies.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limits = _Limits()
    _send(replies, {"ready": True})
    for line in requests:
        try:
            reply = _answer(line, limits)
        except Exception as exc:  # a malformed request or a bug here: answer, and let the parent decide
            reply = _failure("broken", f"the sandbox worker failed ({type(exc).__name__})")
        if limits.grown():
            reply["retire"] = True
        _send(replies, reply)
        if reply.get("retire"):
            return


if __name__ == "__main__":
    main()
