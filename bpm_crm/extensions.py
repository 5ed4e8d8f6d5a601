"""Flask extensions, created unbound and attached in create_app."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session

NAMING = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# A session lives for one request or one background step; what it committed stays readable without a
# second round trip (the answer to a completed task is built from the rows the completion just wrote).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    """WAL, foreign keys and a busy timeout; let SQLAlchemy, not pysqlite, emit BEGIN."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgresql_on_connect(dbapi_connection, _record) -> None:
    """No JIT: it costs ~0.7 s compiling each large list/count query, far more than the queries themselves."""
    if type(dbapi_connection).__module__.startswith("psycopg"):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()


def hold(row: Any) -> Any:
    """Keep a loaded row for as long as the session lives and return it.

    The session's identity map holds rows weakly: a row nobody references is read again by the next
    `get`. Held rows (the people a form offered, the record a task is about) are found without asking.
    """
    db.session.info.setdefault("held_rows", []).append(row)
    return row


# Set while a unit of work (or a statement that writes or locks rows) begins its transaction.
_writing: ContextVar[bool] = ContextVar("bpm_crm_writing", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Transactions begun inside take SQLite's write lock at BEGIN; everything else begins deferred."""
    token = _writing.set(True)
    try:
        yield
    finally:
        _writing.reset(token)


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for transactions that will write, a deferred BEGIN for reads."""
    # A deferred transaction that reads and then writes fails with "database is locked" when another
    # writer committed in between; IMMEDIATE makes a writer wait on busy_timeout instead. Readers need
    # no lock at all (WAL), so they must not queue behind a long write.
    if conn.dialect.name != "sqlite":
        return
    immediate = _writing.get()
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    # What holds_read_transaction needs: how this transaction began and the write count at its start.
    conn.info["sqlite_deferred_at"] = None if immediate else _rows_written(conn)


def _rows_written(conn: Connection) -> int:
    """Rows changed through this SQLite connection since it opened."""
    raw = conn.connection.dbapi_connection
    return raw.total_changes if isinstance(raw, sqlite3.Connection) else 0


def holds_read_transaction(conn: Connection) -> bool:
    """Whether a SQLite connection's transaction began deferred and has not written yet."""
    if conn.dialect.name != "sqlite" or not conn.in_transaction():
        return False
    began_at = conn.info.get("sqlite_deferred_at")
    return began_at is not None and _rows_written(conn) == began_at


def _writes_begin_immediate(state: ORMExecuteState) -> None:
    """A statement that changes rows, or locks them (FOR UPDATE), begins its transaction IMMEDIATE."""
    # Code outside a unit of work that locks a row before changing it (timers, jobs) relies on this;
    # inside a transaction already begun it changes nothing.
    locks = state.is_select and getattr(state.statement, "_for_update_arg", None) is not None
    if state.is_insert or state.is_update or state.is_delete or locks:
        with writing():
            state.session.connection(bind_arguments=state.bind_arguments)



def listen(target: Any, identifier: str, fn: Callable[..., Any], **kwargs: Any) -> None:
    """Attach an event listener once, however many apps a process creates (the tests create several)."""
    if not event.contains(target, identifier, fn):
        event.listen(target, identifier, fn, **kwargs)


def install_database_hooks() -> None:
    """What every connection and session does beside its statements (wired by create_app): SQLite's pragmas and
    BEGIN IMMEDIATE for transactions that write, no JIT on PostgreSQL."""
    listen(Engine, "connect", _sqlite_on_connect)
    listen(Engine, "connect", _postgresql_on_connect)
    listen(Engine, "begin", _sqlite_begin)
    listen(Session, "do_orm_execute", _writes_begin_immediate)

# Models subclass `Model`: Flask-SQLAlchemy's db.Model at run time, its typed base for mypy.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
