"""The `bpm-crm` command line against the test app (both databases)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bpm_crm import cli
from bpm_crm.extensions import db
from bpm_crm.models import User


@pytest.fixture
def run(app, monkeypatch):
    """Invoke a `bpm-crm` command on the test app; returns click's result."""
    monkeypatch.setattr(cli, "_app", lambda: app)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli.main, list(args), catch_exceptions=True)

    return invoke


def test_create_user_reports_the_new_user(run):
    result = run("create-user", "manager9", "--password", "secret-123", "--name", "赵九", "--role",
                 "account_manager", "--department", "销售一部", "--superior", "supervisor1")
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "user manager9 created" in result.output
    db.session.expire_all()
    created = db.session.scalar(select(User).where(User.username == "manager9"))
    assert created is not None and created.full_name == "赵九" and created.superior.username == "supervisor1"


def test_create_user_refusal_is_an_error_message_and_exit_code(run):
    result = run("create-user", "manager1", "--password", "secret-123", "--role", "account_manager")
    assert result.exit_code == 1
    assert "error:" in result.output and "manager1" in result.output
    result = run("create-user", "nobody", "--password", "secret-123", "--role", "no_such_role")
    assert result.exit_code == 1 and "no_such_role" in result.output
    assert db.session.scalar(select(User).where(User.username == "nobody")) is None


def test_run_lists_every_demo_login(run, app, monkeypatch):
    from bpm_crm.services.demo import DEMO_USERS

    monkeypatch.setattr(app, "run", lambda **_kwargs: None)
    result = run("run", "--port", "5999")
    assert result.exit_code == 0, result.output
    for username, full_name, _roles, department, _superior in DEMO_USERS:
        line = next(line for line in result.output.splitlines() if line.split() and line.split()[0] == username)
        assert full_name in line and department in line
    assert "销售主管" in result.output and "流程负责人" in result.output
