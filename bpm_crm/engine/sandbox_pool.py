"""Worker processes that run diagram code for this process: each call checks one worker out, waits for
its reply with a deadline, and kills and replaces a worker that overruns or misbehaves.

Workers are started with fork+exec (subprocess), never a bare fork, so a multi-threaded server is safe.
They start on first use and stop at interpreter exit. A process forked from one that has a pool (a Celery
prefork child) starts its own pool instead of sharing the parent's pipes.
"""
from __future__ import annotations

import atexit
import math
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bpm_crm.engine import sandbox_wire as wire

WORKERS = max(1, int(os.environ.get("BPM_CRM_SANDBOX_WORKERS", "2")))  # per server process
GRACE = float(os.environ.get("BPM_CRM_SANDBOX_GRACE", "0.5"))  # seconds past the time bound before a kill
STARTUP_TIMEOUT = 10.0  # seconds a new worker may take to import and say it is ready
MAX_REPLY_BYTES = 64 << 20  # a script's kept data is capped at 10 million characters, a few bytes each
_BYTES_PER_SECOND = 50 << 20  # the deadline also allows for moving and decoding large task data

_PASSED_ON = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                        "BPM_CRM_TIMEZONE"})
_ENGINE_DIR = Path(__file__).resolve().parent
# Imports the sandbox modules without running bpm_crm/__init__.py, which would load the web application.
_BOOTSTRAP = """\
import sys, types
for name, path in (("bpm_crm", sys.argv[1]), ("bpm_crm.engine", sys.argv[2])):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from bpm_crm.engine.sandbox_worker import main
main()
"""


def _worker_environment() -> dict[str, str]:
    # What Python needs to find its packages; none of the server's settings or credentials.
    return {name: value for name, value in os.environ.items() if name in _PASSED_ON}


class WorkerFailed(RuntimeError):
    """A worker could not be started, died, or sent something that is not a reply."""


class WorkerOverrun(RuntimeError):
    """A worker did not answer by the deadline and was killed."""


class _Undelivered(WorkerFailed):
    """The worker was gone before it had read the whole request, so no code ran."""


class _Worker:
    """One worker process and the two pipes to it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and bootstrap
                [sys.executable, "-P", "-c", _BOOTSTRAP, str(_ENGINE_DIR.parent), str(_ENGINE_DIR)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, close_fds=True, cwd="/",
                env=_worker_environment(),
                start_new_session=True,  # a Ctrl-C for the server is not for its workers
            )
        except OSError as exc:
            raise WorkerFailed(f"the sandbox could not start a worker process ({exc.strerror})") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to = self.process.stdin.fileno()
        self._from = self.process.stdout.fileno()
        os.set_blocking(self._to, False)
        os.set_blocking(self._from, False)
        try:
            ready = wire.loads(self.exchange(b"", time.monotonic() + STARTUP_TIMEOUT))
        except (WorkerFailed, WorkerOverrun, wire.WireError):
            self.kill()
            raise WorkerFailed("the sandbox could not start a worker process") from None
        if ready != {"ready": True}:
            self.kill()
            raise WorkerFailed("the sandbox could not start a worker process")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def exchange(self, request: bytes, deadline: float) -> bytes:
        """Send `request` (may be empty) and return the next reply line, without its newline."""
        poller = select.poll()
        poller.register(self._from, select.POLLIN)
        pending = memoryview(request)
        if pending:
            poller.register(self._to, select.POLLOUT)
        reply = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerOverrun()
            for fd, _ in poller.poll(math.ceil(left * 1000)):
                if fd == self._to:
                    pending = self._write(pending)
                    if not pending:
                        poller.unregister(self._to)
                    continue
                try:
                    chunk = os.read(self._from, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise _Undelivered() if pending else WorkerFailed("the sandbox worker stopped unexpectedly")
                end = chunk.find(b"\n")
                reply += chunk if end < 0 else chunk[:end]
                if len(reply) > MAX_REPLY_BYTES:
                    raise WorkerFailed("the sandbox worker sent too much data")
                if end >= 0:
                    # One reply per request: anything after it means the worker is not ours to trust.
                    if end != len(chunk) - 1 or pending:
                        raise WorkerFailed("the sandbox worker sent an unexpected reply")
                    return bytes(reply)

    def _write(self, pending: memoryview) -> memoryview:
        try:
            return pending[os.write(self._to, pending[: 1 << 20]):]
        except BlockingIOError:
            return pending
        except (BrokenPipeError, ConnectionResetError):
            raise _Undelivered() from None

    def kill(self) -> None:
        """Stop the process now and reap it."""
        if self.owner != os.getpid():
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self, wait: float = 1.0) -> None:
        """Let the worker finish by closing its input; kill it if it does not exit within `wait`."""
        if self.owner != os.getpid():
            return
        self._close_pipes()
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class WorkerPool:
    """Up to `size` workers shared by the threads of one process; each call has one to itself."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.owner = os.getpid()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()

    def call(self, request: bytes, timeout: float) -> dict[str, Any]:
        """The decoded reply to one request line; WorkerOverrun after `timeout` + GRACE seconds (+ 1 s per 50 MB)."""
        for attempt in range(2):
            worker = self._checkout()
            deadline = time.monotonic() + timeout + GRACE + len(request) / _BYTES_PER_SECOND
            try:
                line = worker.exchange(request, deadline)
                reply = wire.loads(line)
                if not isinstance(reply, dict) or reply.get("kind") == "broken":
                    raise WorkerFailed("the sandbox worker sent an unexpected reply")
            except _Undelivered:
                # It died while idle (killed from outside, say): no code ran, so one retry is safe.
                self._discard(worker)
                if attempt:
                    raise WorkerFailed("the sandbox worker stopped unexpectedly") from None
                continue
            except wire.WireError:
                self._discard(worker)
                raise WorkerFailed("the sandbox worker sent an unreadable reply") from None
            except BaseException:
                self._discard(worker)
                raise
            if reply.get("retire"):
                self._discard(worker, gently=True)
            else:
                self._checkin(worker)
            return reply
        raise AssertionError("unreachable")

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for tests and diagnostics)."""
        with self._changed:
            return sorted(worker.pid for worker in self._workers)

    def _checkout(self) -> _Worker:
        with self._changed:
            while True:
                if self._closed:
                    raise WorkerFailed("the sandbox is shut down")
                while self._idle:
                    worker = self._idle.pop()  # the most recently used one is warm
                    if worker.alive():
                        return worker
                    self._workers.discard(worker)
                    worker.kill()
                if len(self._workers) + self._starting < self.size:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            worker = _Worker()
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            self._workers.add(worker)
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._changed:
            self._idle.append(worker)
            self._changed.notify()

    def _discard(self, worker: _Worker, gently: bool = False) -> None:
        if gently:
            worker.close()
        else:
            worker.kill()
        with self._changed:
            self._workers.discard(worker)
            self._changed.notify()

    def close(self) -> None:
        """Stop every worker; later calls fail."""
        with self._changed:
            self._closed = True
            workers = list(self._workers)
            self._idle.clear()
            self._workers.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.close(wait=0.5)

    def forget(self) -> None:
        """In a forked child: drop this process's copies of the pipes; the workers stay the parent's."""
        for worker in list(self._workers):
            worker._close_pipes()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()
_inherited: list[WorkerPool] = []  # kept referenced, so no Popen finaliser tries to reap another's child


def shared_pool() -> WorkerPool:
    """This process's pool, started on first use."""
    global _pool
    pool = _pool
    if pool is not None and pool.owner == os.getpid():
        return pool
    with _pool_lock:
        if _pool is None or _pool.owner != os.getpid():
            _pool = WorkerPool(WORKERS)
        return _pool


def _after_fork_in_child() -> None:
    # The lock may have been held by another thread at the fork; the pipes belong to the parent's workers.
    global _pool, _pool_lock
    inherited, _pool = _pool, None
    _pool_lock = threading.Lock()
    if inherited is not None:
        inherited.forget()
        _inherited.append(inherited)


def _shutdown() -> None:
    pool = _pool
    if pool is not None and pool.owner == os.getpid():
        pool.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown)
