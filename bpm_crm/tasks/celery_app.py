"""The Celery application: beat scans for due timers, workers advance instances."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from bpm_crm.config import Config


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to the Flask app so every task runs inside an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["REDIS_URL"],
        result_backend=app.config["REDIS_URL"],
        task_acks_late=True,  # a worker killed mid-step leaves the message for another
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=app.config["CELERY_QUEUE"],
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "scan-due-timers": {
                "task": "bpm_crm.tasks.timers.scan_due_timers",
                "schedule": float(app.config["TIMER_POLL_SECONDS"]),
            }
        },
        imports=("bpm_crm.tasks.timers",),
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def make_celery() -> Celery:
    """Entry point for `celery -A bpm_crm.tasks.celery_app:celery`."""
    from bpm_crm import create_app

    return celery_init_app(create_app(Config))
