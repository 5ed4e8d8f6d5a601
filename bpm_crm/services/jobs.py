"""Work that must follow a commit — a PDF, an e-mail, a webhook — never done inside the transaction.

`enqueue` writes a job row in the caller's transaction: if the transaction rolls back, the job
is gone with it; if it commits, the job is handed to the dispatcher right after the commit (a
background thread in the embedded default, a Celery task in production) and, should that hand-off
be lost, the scheduler's sweep (`run_due_jobs`) picks it up. A failing job is retried with a
growing delay and never rolls back the business change that asked for it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bpm_crm import clock
from bpm_crm.extensions import db, listen
from bpm_crm.models import Job, JobStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
JobHandler = Callable[[dict[str, Any]], None]
Dispatcher = Callable[[list[int]], None]

_handlers: dict[str, JobHandler] = {}
_dispatcher: Dispatcher | None = None


def register(kind: str, handler: JobHandler) -> None:
    """Name the function that runs jobs of `kind` (explicitly, when the app is built)."""
    _handlers[kind] = handler


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Who runs committed jobs right away: a thread pool, Celery, or nobody (the sweep does)."""
    global _dispatcher
    _dispatcher = dispatcher


def enqueue(kind: str, payload: dict[str, Any], *, run_after: datetime | None = None) -> Job:
    """Add a job to the caller's transaction; it runs only if that transaction commits."""
    if kind not in _handlers:
        raise LookupError(f"no job handler named {kind!r}")
    job = Job(kind=kind, payload=payload, run_after=run_after or clock.utcnow_naive())
    db.session.add(job)
    db.session.flush()
    db.session.info.setdefault("committed_jobs", []).append(job.id)
    return job


def dispatch_after_commit(session: Session, job: Job) -> None:
    """Hand a job added during a flush (its id comes with the next flush) to the dispatcher after the commit."""
    session.info.setdefault("flushed_jobs", []).append(job)


def _after_commit(session: Session) -> None:
    ids = session.info.pop("committed_jobs", None)
    flushed = [job.id for job in session.info.pop("flushed_jobs", []) if job.id is not None]
    ids = (ids or []) + flushed
    if ids and _dispatcher is not None:
        try:
            _dispatcher(list(ids))
        except Exception:  # the sweep will find them; the business change is committed either way
            log.exception("could not hand jobs %s to the dispatcher", ids)


def _after_rollback(session: Session) -> None:
    session.info.pop("committed_jobs", None)
    session.info.pop("flushed_jobs", None)



def install() -> None:
    """Hand the jobs a transaction added to the dispatcher after its commit, never after a rollback (wired by
    create_app)."""
    listen(Session, "after_commit", _after_commit)
    listen(Session, "after_rollback", _after_rollback)

def run_job(job_id: int) -> bool:
    """Run one pending job if it is due and nobody else runs it; commits. True when it ran."""
    job = db.session.scalar(
        select(Job).where(Job.id == job_id).with_for_update(skip_locked=True).execution_options(populate_existing=True)
    )
    now = clock.utcnow_naive()
    if job is None or job.status != JobStatus.PENDING or job.run_after > now:
        db.session.rollback()
        return False
    handler = _handlers.get(job.kind)
    job.attempts += 1
    try:
        if handler is None:
            raise LookupError(f"no job handler named {job.kind!r}")
        with db.session.begin_nested():
            handler(dict(job.payload or {}))
    except Exception as exc:
        log.exception("job %s (%s) failed", job.id, job.kind)
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        if job.attempts >= MAX_ATTEMPTS:
            job.status = JobStatus.FAILED.value
            job.finished_at = now
        else:
            job.run_after = now + timedelta(minutes=2 ** job.attempts)
        db.session.commit()
        return False
    job.status = JobStatus.DONE.value
    job.finished_at = now
    job.error = None
    db.session.commit()
    return True


def due_job_ids(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    moment = now or clock.utcnow_naive()
    return list(db.session.scalars(
        select(Job.id).where(Job.status == JobStatus.PENDING, Job.run_after <= moment)
        .order_by(Job.run_after, Job.id).limit(limit)
    ))


def run_due_jobs(*, now: datetime | None = None, limit: int = 100) -> int:
    """The sweep: run every pending job that is due; returns how many ran."""
    ids = due_job_ids(now=now, limit=limit)
    db.session.rollback()
    return sum(1 for job_id in ids if run_job(job_id))


def retry(*, job_id: int) -> Job:
    """Give a failed job another round of attempts; commits."""
    job = db.session.get(Job, job_id)
    if job is None:
        from bpm_crm.errors import NotFound

        raise NotFound("记录不存在")
    job.status = JobStatus.PENDING.value
    job.attempts = 0
    job.run_after = clock.utcnow_naive()
    db.session.commit()
    return job
