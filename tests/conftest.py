"""Fixtures: a scratch database per backend (SQLite file, PostgreSQL database), clean per test."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from bpm_crm import clock, create_app
from bpm_crm.config import TestConfig
from bpm_crm.extensions import db

PROCESSES_DIR = Path(__file__).resolve().parent.parent / "processes"
PG_ADMIN_URL = os.environ.get("BPM_CRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("BPM_CRM_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


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


_migrated: set[str] = set()


def config_for(url: str, **overrides: object) -> type[TestConfig]:
    """A test configuration on the database at `url`."""
    return type("ScratchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url,
                                                  "PROCESSES_DIR": str(PROCESSES_DIR), **overrides})


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(backend: str, database_urls: dict[str, str]) -> Iterator[Flask]:
    """An app on a clean database of the backend, with roles, demo users and processes."""
    url = database_urls[backend]
    app = create_app(config_for(url))
    with app.app_context():
        if url not in _migrated:
            upgrade(directory=app.extensions["migrate"].directory)
            _migrated.add(url)
        _truncate_all()
        from bpm_crm.services import definitions, demo

        demo.load_demo_users()
        definitions.deploy_directory(PROCESSES_DIR)
        yield app
        db.session.remove()
    clock.unfreeze()


def _truncate_all() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))  # noqa: S608
    else:
        db.session.execute(text("PRAGMA defer_foreign_keys=ON"))  # users <-> departments refer to each other
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))  # noqa: S608
        db.session.execute(text("DELETE FROM sqlite_sequence"))  # AUTOINCREMENT counters start again
    db.session.commit()


@pytest.fixture
def users(app: Flask):
    """Demo users by username."""
    from sqlalchemy import select

    from bpm_crm.models import User

    return {u.username: u for u in db.session.scalars(select(User))}
