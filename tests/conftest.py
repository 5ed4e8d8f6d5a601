"""Fixtures: one scratch database per backend, migrated and loaded with the baseline once per run.

A test runs inside a transaction on one connection and is rolled back at its end: the services' own
commits and rollbacks work on savepoints inside it. A test whose data other connections must see
(threads, a second app, a worker process, a live server, migrations) is marked `commits`: it commits
for real, and the baseline is loaded again after it.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from bpm_crm import clock, create_app
from bpm_crm.config import TestConfig
from bpm_crm.extensions import _writing, db

PROCESSES_DIR = Path(__file__).resolve().parent.parent / "processes"
PG_ADMIN_URL = os.environ.get("BPM_CRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("BPM_CRM_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A live server answers from its own connections, so what its test prepares must be committed."""
    for item in items:
        if "live_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.commits)


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Create one scratch database per backend for the session and drop it afterwards."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'bpm-crm-test.sqlite3'}"}
    pg_name = None
    if "postgresql" in BACKENDS:
        pg_name = f"bpm_crm_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        admin.dispose()
        urls["postgresql"] = _pg_url(pg_name)
    yield urls
    if pg_name:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()


def config_for(url: str, **overrides: object) -> type[TestConfig]:
    """A test configuration on the database at `url`."""
    return type("ScratchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url,
                                                  "PROCESSES_DIR": str(PROCESSES_DIR), **overrides})


@dataclass(frozen=True)
class _Joined:
    connection: Connection
    thread: int


# The connection each app's sessions run on during a rolled-back test (none: its own engine, as in production).
_joined: dict[Flask, _Joined] = {}


class JoiningSession(FlaskSession):
    """A session on the test's connection while its app has one: its transactions are savepoints there."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        joined = _joined.get(current_app._get_current_object()) if bind is None else None
        if joined is None:
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if threading.get_ident() != joined.thread:
            raise RuntimeError("another thread would share the test's connection: mark the test `commits`")
        return joined.connection


@event.listens_for(JoiningSession, "after_begin")
def _note_how_the_savepoint_began(session: JoiningSession, transaction: Any, connection: Connection) -> None:
    """Keep for the session's savepoint what SQLite's BEGIN notes for its transaction (see holds_read_transaction).

    A unit of work ends a read-only transaction before it writes; on the test's connection the session's
    transactions are savepoints, and each must count as begun deferred unless it began writing.
    """
    joined = any(j.connection is connection for j in _joined.values())
    if joined and transaction.parent is None and connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        connection.info["sqlite_deferred_at"] = None if _writing.get() else raw.total_changes


# Real COMMITs on other connections during a rolled-back test: what they wrote outlives the test.
_stray_commits: list[str] = []


@event.listens_for(Engine, "commit")
def _note_stray_commit(connection: Connection) -> None:
    if _joined and not any(j.connection is connection for j in _joined.values()):
        _stray_commits.append(connection.engine.url.render_as_string())


@pytest.fixture(scope="session", autouse=True)
def _joining_sessions() -> Iterator[None]:
    """db.session as the app builds it, but able to join a test's transaction ("create_savepoint")."""
    original = db.session
    options = {key: value for key, value in original.session_factory.kw.items() if key != "db"}
    db.session = db._make_scoped_session({**options, "class_": JoiningSession,
                                          "join_transaction_mode": "create_savepoint"})
    yield
    db.session = original


def load_baseline() -> None:
    """Empty every table (ids start again), then load roles, demo users and the shipped processes; commits."""
    from bpm_crm.services import definitions, demo

    _truncate_all()
    definitions.forget_versions()  # ids are handed out again
    demo.load_demo_users()
    definitions.deploy_directory(PROCESSES_DIR)
    db.session.commit()


def _truncate_all() -> None:
    # org_revision is no data: its one row and the triggers keeping it stay.
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name != "org_revision"]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))  # noqa: S608
    else:
        db.session.execute(text("PRAGMA defer_foreign_keys=ON"))  # users <-> departments refer to each other
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))  # noqa: S608
        db.session.execute(text("DELETE FROM sqlite_sequence"))  # AUTOINCREMENT counters start again
    db.session.commit()


class Databases:
    """Per backend, an app on a database migrated and loaded with the baseline when first asked for."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self._apps: dict[str, Flask] = {}

    def app(self, backend: str) -> Flask:
        if backend not in self._apps:
            app = create_app(config_for(self.urls[backend]))
            with app.app_context():
                upgrade(directory=app.extensions["migrate"].directory)
                load_baseline()
                db.session.remove()
            self._apps[backend] = app
        return self._apps[backend]

    def close(self) -> None:
        for app in self._apps.values():
            with app.app_context():
                db.engine.dispose()


@pytest.fixture(scope="session")
def databases(database_urls: dict[str, str]) -> Iterator[Databases]:
    prepared = Databases(database_urls)
    yield prepared
    prepared.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _forget_process_state() -> None:
    """What the process keeps between tests: parsed versions by id and the job dispatcher."""
    from bpm_crm.services import definitions, jobs

    definitions.forget_versions()  # a rolled-back version's id is handed out again (SQLite)
    jobs.set_dispatcher(None)  # what create_app wires for TestConfig's TIMER_MODE "off"


@pytest.fixture
def app(request: pytest.FixtureRequest, backend: str, databases: Databases) -> Iterator[Flask]:
    """An app on the backend's database holding roles, demo users and processes.

    What the test writes is rolled back at its end; under `@pytest.mark.commits` it is committed for
    real and the baseline is loaded again afterwards.
    """
    prepared = databases.app(backend)
    _forget_process_state()
    try:
        if request.node.get_closest_marker("commits"):
            yield from _committing_app(databases.urls[backend])
        else:
            yield from _rolled_back_app(prepared)
    finally:
        _forget_process_state()
        clock.unfreeze()


def _rolled_back_app(app: Flask) -> Iterator[Flask]:
    """The prepared app with every session on one connection whose transaction is rolled back at the end."""
    config, client_class = app.config.copy(), app.test_client_class
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    _joined[app] = _Joined(connection, threading.get_ident())
    _stray_commits.clear()
    try:
        with app.app_context():
            yield app
            db.session.remove()
    finally:
        del _joined[app]
        transaction.rollback()
        connection.close()
        app.config.clear()
        app.config.update(config)
        app.test_client_class = client_class
    if _stray_commits:
        stray = sorted(set(_stray_commits))
        _stray_commits.clear()
        with app.app_context():
            load_baseline()  # leave the next test the database it expects
            db.session.remove()
        pytest.fail(f"committed on another connection to {stray}, which the rollback cannot undo: "
                    "mark the test `commits`")


def _committing_app(url: str) -> Iterator[Flask]:
    """A fresh app whose sessions commit for real; afterwards the database holds only the baseline again."""
    app = create_app(config_for(url))
    try:
        with app.app_context():
            yield app
            db.session.remove()
    finally:
        with app.app_context():
            load_baseline()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def users(app: Flask):
    """Demo users by username."""
    from sqlalchemy import select

    from bpm_crm.models import User

    return {u.username: u for u in db.session.scalars(select(User))}
