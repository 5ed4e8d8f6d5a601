"""What the benchmarks share: the app configuration they run with and their scratch databases."""
from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, text

from bpm_crm.config import TestConfig

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def config(url: str, **settings: Any) -> type[TestConfig]:
    """The test configuration on `url` with the shipped processes (production password hashing is irrelevant
    here; the rest is the production code path)."""
    return type("BenchConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url,
                                                "PROCESSES_DIR": str(ROOT / "processes"), **settings})


def sqlite_url(name: str = "bench") -> str:
    """A SQLite file in a new temporary folder."""
    return f"sqlite:///{tempfile.mkdtemp()}/{name}.sqlite3"


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def admin(statement: str, **params: Any) -> Any:
    """Run one statement on the server's own database (outside a transaction); its first value, if any."""
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(statement), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def create_pg(prefix: str = "bpm_crm_bench", *, name: str | None = None, template: str | None = None) -> str:
    """A new PostgreSQL database (a random name after `prefix`, unless named); its name."""
    name = name or f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def pg_exists(name: str) -> bool:
    return bool(admin("SELECT 1 FROM pg_database WHERE datname = :name", name=name))


def drop_pg(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def on_backend(backend: str, run: Callable[[str], T]) -> T:
    """`run(url)` on a new SQLite file ("sqlite") or a scratch PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        return run(sqlite_url())
    name = create_pg()
    try:
        return run(pg_url(name))
    finally:
        drop_pg(name)
