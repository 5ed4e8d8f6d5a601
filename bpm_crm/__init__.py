"""bpm-crm: a CRM whose business processes are BPMN diagrams run by SpiffWorkflow."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, session

from bpm_crm.config import INSTANCE_DIR, Config, SettingInvalid
from bpm_crm.extensions import babel, csrf, db, login_manager, migrate

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def select_locale() -> str:
    """The signed-in user's language, else the one chosen in this browser, else the configured default."""
    from flask import current_app, has_request_context
    from flask_login import current_user

    languages = current_app.config["LANGUAGES"]
    if has_request_context():
        kept = getattr(current_user, "locale", None) if current_user else None
        if isinstance(kept, str) and kept in languages:
            return kept
        chosen = session.get("locale")
        if isinstance(chosen, str) and chosen in languages:
            return chosen
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    """Build the application: the one place that knows every part."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), template_folder="web/templates",
                static_folder="web/static")
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    _check_settings(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    csrf.init_app(app)

    from bpm_crm import api, web
    from bpm_crm.input_rules import IdConverter

    _wire_database_hooks()
    app.url_map.converters["id"] = IdConverter  # `<id:…>` in page and API routes
    web.register(app)
    api.register(app)
    _wire_platform_handlers()
    _wire_background_work(app)
    return app


def _check_settings(app: Flask) -> None:
    """Refuse to start on a setting that would fail later, naming its environment variable (SettingInvalid)."""
    from bpm_crm.engine.workdays import WorkingHours
    from bpm_crm.services.service_levels import parse_targets

    def escalation_mode(value: str) -> None:
        if value.strip() not in ("watch", "reassign"):
            raise ValueError("must be 'watch' or 'reassign'")

    checks = (("WORKING_HOURS", "BPM_CRM_WORKING_HOURS", WorkingHours.parse),
              ("SERVICE_SLA", "BPM_CRM_SERVICE_SLA", parse_targets),
              ("ESCALATION_MODE", "BPM_CRM_ESCALATION_MODE", escalation_mode))
    for key, variable, check in checks:
        value = app.config[key]
        try:
            check(value)
        except (TypeError, ValueError) as exc:
            raise SettingInvalid(f"{variable}={value!r} cannot be used: {exc}") from None


def _wire_platform_handlers() -> None:
    """Service tasks that need the services (resolving who approves an approval step, printing a quote), and how a
    quote's versions differ."""
    from bpm_crm import handlers
    from bpm_crm.services import approval_rules, quote_approval
    from bpm_crm.services.records import RECORDS

    handlers.register("approval.resolve", approval_rules.resolve)
    handlers.register("quote.print", quote_approval.print_quote)
    # What an approver of a resubmitted quote sees changed since he last decided.
    RECORDS.set_version_comparison("quote", quote_approval.compare)
    _wire_timer_handlers()


def _wire_timer_handlers() -> None:
    """The scheduled scans: they start processes (one per churn warning or care task), which handlers cannot."""
    from bpm_crm import handlers
    from bpm_crm.services import care_rules, churn_scan

    handlers.register("churn.scan", churn_scan.scan)
    handlers.register("care.scan", care_rules.plan)


def _wire_database_hooks() -> None:
    """What sessions and connections do beside their statements; each is attached once per process."""
    from bpm_crm.extensions import install_database_hooks
    from bpm_crm.services import audit, jobs, permissions

    install_database_hooks()  # SQLite pragmas and BEGIN IMMEDIATE for writers; no JIT on PostgreSQL
    permissions.install()  # a session forgets its organisation snapshot when the organisation changes
    audit.install()  # every flush writes the audit log
    jobs.install()  # after-commit jobs go to their dispatcher after the commit only


def _wire_background_work(app: Flask) -> None:
    """Who runs after-commit jobs right away: a thread here (embedded), Celery workers, or only the sweep."""
    from bpm_crm.services import jobs, notifications, quote_pdf

    jobs.register(quote_pdf.JOB_KIND, quote_pdf.run_pdf_job)
    _register_timer_jobs()
    notifications.install(app)  # every notification is sent by e-mail / webhook after its commit
    mode = app.config["TIMER_MODE"]
    if mode == "celery":
        from bpm_crm.tasks.timers import run_job

        def enqueue(job_ids: list[int]) -> None:
            for job_id in job_ids:
                run_job.delay(job_id)

        jobs.set_dispatcher(enqueue)
    elif mode == "inprocess":
        from bpm_crm.tasks.scheduler import job_runner

        jobs.set_dispatcher(job_runner(app))
    else:
        jobs.set_dispatcher(None)


def _register_timer_jobs() -> None:
    """What the scans leave for after their commit: starting processes in batches, closing recovered warnings."""
    from bpm_crm.services import care_rules, churn_scan, jobs

    jobs.register(churn_scan.JOB_START, churn_scan.start_processes)
    jobs.register(churn_scan.JOB_CLOSE, churn_scan.close_recovered)
    jobs.register(care_rules.JOB_START, care_rules.start_processes)


def run_timer_loop(app: Flask, *, background: bool = False) -> None:
    """Poll for due timers in this process: on a daemon thread (`bpm-crm run`) or in the foreground."""
    from bpm_crm.tasks import scheduler

    if background:
        scheduler.start_in_background(app)
    else:
        scheduler.run_forever(app)
