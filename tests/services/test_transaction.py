"""SQLite transactions: a unit of work takes the write lock at BEGIN, a read takes none and never waits for one."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import g
from sqlalchemy import event, func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, User
from bpm_crm.services import customers
from bpm_crm.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.commits  # another connection holds the lock or reads what was written


@pytest.fixture
def backend() -> str:
    """Lock behaviour of SQLite; PostgreSQL has row locks and MVCC and no database-wide write lock."""
    return "sqlite"


@contextmanager
def write_lock_held(app, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds SQLite's write lock (with an uncommitted customer) until the block ends.

    With `release_after`, it commits after that many seconds instead, while the block still runs.
    """
    other = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=30, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO customers (name, level, status, created_at, updated_at) "
                  "VALUES ('别的连接写入的客户', '普通', '正常', '2026-01-01', '2026-01-01')")
    timer = threading.Timer(release_after, other.commit) if release_after is not None else None
    if timer:
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.join()
        else:
            other.rollback()
        other.close()


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_read_request_answers_while_another_connection_holds_the_write_lock(app, users):
    client, browser = app.test_client(), app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "manager1", "password": DEMO_PASSWORD}).json["token"]
    assert browser.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD}).status_code == 302
    customers.create_customer(user=users["manager1"], values={"name": "杭州云启科技有限公司"})
    manager_id = users["manager1"].id
    db.session.remove()
    with write_lock_held(app):
        started = time.monotonic()
        response = client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"})
        g.pop("_login_user", None)  # the test shares one app context; sign-in cached the user in it
        page = browser.get("/customers/")
        listed = customers.list_customers(user=db.session.get(User, manager_id))
        elapsed = time.monotonic() - started
        db.session.remove()
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [c["name"] for c in response.json["items"]] == ["杭州云启科技有限公司"] == [c.name for c in listed.items]
    assert page.status_code == 200 and "杭州云启科技有限公司" in page.get_data(as_text=True)
    assert elapsed < 5  # waiting for the lock would take the 30 s busy timeout


def test_a_unit_of_work_begins_immediate_even_when_the_session_was_reading(app, users):
    manager_id = users["manager1"].id
    db.session.remove()
    with statements() as seen:
        manager = db.session.get(User, manager_id)  # a read: loading the signed-in user
        customers.create_customer(user=manager, values={"name": "宁波港联物流"})
        customers.list_customers(user=manager)
        db.session.rollback()
        db.session.scalars(select(Customer).with_for_update()).all()  # locks rows: a writer outside a service
    begins = [s for s in seen if s.startswith("BEGIN")]
    assert begins == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN", "BEGIN IMMEDIATE"]
    assert db.session.scalar(select(func.count(Customer.id))) == 1


def test_a_writer_waits_for_the_lock_and_then_succeeds(app, users):
    manager_id = users["manager1"].id
    db.session.remove()
    manager = db.session.get(User, manager_id)  # the read snapshot a deferred upgrade would trip over
    with write_lock_held(app, release_after=0.5):
        created = customers.create_customer(user=manager, values={"name": "苏州恒达机械"})
    assert created.id is not None
    assert db.session.scalar(select(func.count(Customer.id))) == 2  # the other connection's customer too
