"""The in-process timer loop of the embedded default (and of `bpm-crm timers`)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from bpm_crm.extensions import db
from bpm_crm.services import jobs, timers

log = logging.getLogger(__name__)


def run_due_timers(app: Flask) -> int:
    """One pass: advance every instance whose timer is due."""
    return run_one_pass(app).total


def run_one_pass(app: Flask) -> timers.PassResult:
    """One pass over due timers, deadlines, schedules and jobs, in an app context of its own."""
    with app.app_context():
        try:
            return timers.run_pass()
        finally:
            db.session.remove()


def job_runner(app: Flask) -> Callable[[list[int]], None]:
    """A dispatcher that runs committed jobs on a small thread pool of this process."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bpm-crm-jobs")

    def run(job_ids: list[int]) -> None:
        with app.app_context():
            try:
                for job_id in job_ids:
                    jobs.run_job(job_id)
            finally:
                db.session.remove()

    def dispatch(job_ids: list[int]) -> None:
        pool.submit(run, job_ids)

    return dispatch


def run_forever(app: Flask, stop: threading.Event | None = None) -> None:
    """Poll for due timers until `stop` is set; while a pass leaves more due (a full batch), pass again at once."""
    stop = stop or threading.Event()
    interval = app.config["TIMER_POLL_SECONDS"]
    log.info("timer loop polling every %ss", interval)
    while not stop.is_set():
        more = False
        try:
            result = run_one_pass(app)
            more = result.more
            if result.total:
                log.info("advanced %d instance(s) with due timers", result.total)
        except Exception:  # keep the loop alive; the next pass retries
            log.exception("timer pass failed")
        if not more:
            stop.wait(interval)


def start_in_background(app: Flask) -> threading.Event:
    """Start the loop on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(app, stop), name="bpm-crm-timers", daemon=True)
    thread.start()
    return stop
