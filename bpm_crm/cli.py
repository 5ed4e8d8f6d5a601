"""The `bpm-crm` command line: argument parsing only, each command one service call."""
from __future__ import annotations

import logging
import os
import sys

import click
from flask import Flask
from flask_migrate import upgrade

from bpm_crm import create_app, run_timer_loop
from bpm_crm.config import Config, SettingInvalid
from bpm_crm.engine.definitions import DefinitionInvalid
from bpm_crm.errors import DomainError


def _app() -> Flask:
    try:
        return create_app(Config)
    except SettingInvalid as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """bpm-crm: CRM with BPMN processes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO; the process history is kept in the database instead.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    # WeasyPrint logs each of the seven steps of every PDF at INFO.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)


@main.command()
def init() -> None:
    """Create or upgrade the database schema and seed the roles."""
    from bpm_crm.extensions import db
    from bpm_crm.services import care_rules, dictionary, permissions

    app = _app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        permissions.seed_roles()
        dictionary.seed_dictionary()
        db.session.commit()
        care_rules.seed_rules()  # the default care rules (birthdays, festivals, follow-ups) on a new database
        db.session.commit()
    click.echo(f"database ready: {app.config['SQLALCHEMY_DATABASE_URI']}")


@main.command()
@click.option("--processes", "directory", default=None, help="directory of *.bpmn files")
def deploy(directory: str | None) -> None:
    """Deploy every diagram of the processes directory (unchanged files are not new versions)."""
    from bpm_crm.services import definitions

    app = _app()
    with app.app_context():
        try:
            results = definitions.deploy_directory(directory or app.config["PROCESSES_DIR"])
        except DefinitionInvalid as exc:
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(1)
        for definition, created in results:
            state = "deployed" if created else "unchanged"
            click.echo(f"{definition.process_id} v{definition.version} {state}")


@main.command()
@click.option("--customers", type=click.IntRange(min=0), default=None,
              help="add this many generated customers (default: the small demo set, once)")
@click.option("--orders", type=click.IntRange(min=0), default=None, help="add this many generated orders")
@click.option("--seed", type=int, default=2026, show_default=True, help="random seed of the generated data")
def demo(customers: int | None, orders: int | None, seed: int) -> None:
    """Load demo users (every role), opportunities and customers with contacts, interactions and orders."""
    from bpm_crm.services import demo as demo_data

    app = _app()
    with app.app_context():
        users = demo_data.load_demo_users()
        made = demo_data.load_demo_opportunities()
        click.echo(f"demo users created: {len(users)}; demo opportunities created: {made}")
        result = demo_data.load_demo_customers(customers=customers, orders=orders, seed=seed,
                                               progress=lambda message: click.echo(f"  {message}"))
        quotes = demo_data.load_demo_quotes()
        if quotes:
            click.echo(f"demo quotes created: {quotes} (draft, in approval, approved, rejected, withdrawn)")
        requests = demo_data.load_demo_service_requests()
        if requests:
            click.echo(f"demo service requests created: {requests} (complaints signed off, consultations, suggestions)")
        if customers is None:
            from bpm_crm.services import demo_timers

            raised = demo_timers.load()
            if raised:
                click.echo(f"churn scan run once: {raised} warnings raised; care rules run once")
    if result is None:
        click.echo("demo customers exist already; use --customers N --orders M to add more")
    else:
        click.echo(f"customers: {result.customers}, contacts: {result.contacts}, interactions: "
                   f"{result.interactions}, orders: {result.orders} ({result.order_lines} lines), "
                   f"products: {result.products}, in {result.seconds:.1f}s")


@main.command("create-user")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "full_name", default="")
@click.option("--role", "roles", multiple=True, required=True, help="role code, repeatable")
@click.option("--department", default=None)
@click.option("--superior", default=None, help="username of the superior")
def create_user(username: str, password: str, full_name: str, roles: tuple[str, ...],
                department: str | None, superior: str | None) -> None:
    """Create a user."""
    from bpm_crm.services import people

    app = _app()
    with app.app_context():
        try:
            user = people.create_user(username=username, password=password, full_name=full_name,
                                      roles=list(roles), department=department, superior=superior)
        except DomainError as exc:
            click.echo(f"error: {exc.message} {getattr(exc, 'field_errors', '')}", err=True)
            sys.exit(1)
        # Inside the app context: leaving it closes the session, and the user with it.
        click.echo(f"user {user.username} created")


@main.command()
@click.option("--host", default=lambda: os.environ.get("BPM_CRM_HOST", "127.0.0.1"))
@click.option("--port", default=lambda: int(os.environ.get("BPM_CRM_PORT", "5000")), type=int)
def run(host: str, port: int) -> None:
    """Serve the web application (with the in-process timer loop when BPM_CRM_TIMER_MODE=inprocess)."""
    from bpm_crm.services.demo import DEMO_PASSWORD, demo_logins

    app = _app()
    if app.config["TIMER_MODE"] == "inprocess":
        run_timer_loop(app, background=True)
    click.echo(f"\n  bpm-crm is running at http://{host}:{port}/")
    click.echo(f"  demo logins (every password {DEMO_PASSWORD}):")
    for line in demo_logins():
        click.echo(f"    {line}")
    click.echo("")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
def timers() -> None:
    """Run the timer loop in the foreground (embedded setups without Celery)."""
    run_timer_loop(_app())


if __name__ == "__main__":
    main()
