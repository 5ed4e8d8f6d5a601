"""Sign-in throttling per user name and per address, kept in the login log; equal work for unknown names."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bpm_crm import clock, create_app
from bpm_crm.extensions import db
from bpm_crm.models import LoginEvent
from bpm_crm.services import people
from bpm_crm.services.demo import DEMO_PASSWORD
from tests.conftest import config_for

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fail(username: str, times: int = 1, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert people.authenticate(username=username, password="wrong-password", ip=ip) is None


def reasons(username: str) -> list[str | None]:
    return list(db.session.scalars(select(LoginEvent.reason).where(LoginEvent.username == username)
                                   .order_by(LoginEvent.id)))


def test_five_failures_lock_the_user_name_for_fifteen_minutes(app, users):
    clock.freeze(START)
    fail("manager1", 4)
    clock.advance(timedelta(minutes=5))
    fail("manager1")
    with pytest.raises(people.LoginThrottled) as locked:
        people.authenticate(username="manager1", password=DEMO_PASSWORD, ip="10.0.0.2")
    assert locked.value.status == 429 and locked.value.retry_after == 15 * 60 and locked.value.minutes == 15
    # locked attempts are logged but do not extend the lock
    clock.advance(timedelta(minutes=10))
    with pytest.raises(people.LoginThrottled) as still:
        people.authenticate(username="manager1", password=DEMO_PASSWORD, ip="10.0.0.3")
    assert still.value.retry_after == 5 * 60
    assert reasons("manager1") == [people.WRONG_PASSWORD] * 5 + [people.USER_LOCKED] * 2
    clock.advance(timedelta(minutes=5))
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD).username == "manager1"


def test_failures_spread_wider_than_the_window_do_not_lock(app, users):
    clock.freeze(START)
    for _ in range(6):
        fail("manager1")
        clock.advance(timedelta(minutes=4))
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD) is not None


def test_a_successful_sign_in_clears_the_user_names_count(app, users):
    clock.freeze(START)
    fail("manager1", 4)
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD) is not None
    fail("manager1", 4)
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD) is not None
    fail("manager1", 5)
    with pytest.raises(people.LoginThrottled):
        people.authenticate(username="manager1", password=DEMO_PASSWORD)


def test_unknown_names_are_locked_alike(app, users):
    clock.freeze(START)
    fail("nobody", 5)
    with pytest.raises(people.LoginThrottled) as locked:
        people.authenticate(username="nobody", password="x")
    assert locked.value.retry_after == 15 * 60
    assert reasons("nobody") == [people.UNKNOWN_USER] * 5 + [people.USER_LOCKED]


def test_twenty_failures_from_one_address_lock_that_address(app, users):
    clock.freeze(START)
    for index in range(20):
        fail(f"guess{index}", ip="203.0.113.7")
    with pytest.raises(people.LoginThrottled) as locked:
        people.authenticate(username="manager2", password=DEMO_PASSWORD, ip="203.0.113.7")
    assert locked.value.retry_after == 15 * 60
    assert reasons("manager2") == [people.ADDRESS_LOCKED]
    event = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id.desc())).first()
    assert event is not None and event.user_id == users["manager2"].id and event.ip == "203.0.113.7"
    assert people.authenticate(username="manager2", password=DEMO_PASSWORD, ip="198.51.100.1") is not None
    clock.advance(timedelta(minutes=15))
    assert people.authenticate(username="manager2", password=DEMO_PASSWORD, ip="203.0.113.7") is not None


def test_limits_come_from_the_configuration(app, users):
    app.config.update(LOGIN_MAX_FAILURES_PER_USER=2, LOGIN_LOCK_MINUTES=1)
    clock.freeze(START)
    fail("manager1", 2)
    with pytest.raises(people.LoginThrottled) as locked:
        people.authenticate(username="manager1", password=DEMO_PASSWORD)
    assert locked.value.retry_after == 60
    app.config["LOGIN_MAX_FAILURES_PER_USER"] = 0  # 0 turns the limit off
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD) is not None


@pytest.mark.commits  # a second app reads the failures on its own connection
def test_the_lock_holds_for_every_process_on_the_database(app, users, database_urls, backend):
    clock.freeze(START)
    fail("manager1", 5)
    other = create_app(config_for(database_urls[backend]))
    with other.app_context():
        with pytest.raises(people.LoginThrottled):
            people.authenticate(username="manager1", password=DEMO_PASSWORD)
        db.session.remove()


def test_unknown_users_cost_a_hash_check_of_the_configured_method(app, users, monkeypatch):
    checked: list[str] = []
    real_check = people.check_password_hash

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real_check(pwhash, password)

    monkeypatch.setattr(people, "check_password_hash", spy)
    method = app.config["PASSWORD_HASH_METHOD"]
    assert people.authenticate(username="nobody", password="demo1234") is None
    assert len(checked) == 1
    assert checked[0].split("$")[0] == method == users["manager1"].password_hash.split("$")[0]
    assert checked[0] == people.dummy_password_hash()
    # another configured method gets its own dummy hash
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:2000"  # noqa: S105
    people.authenticate(username="nobody", password="demo1234")
    assert checked[-1].startswith("pbkdf2:sha256:2000$")


def test_a_locked_attempt_checks_no_password_at_all(app, users, monkeypatch):
    clock.freeze(START)
    fail("manager1", 5)
    fail("nobody", 5)
    monkeypatch.setattr(people, "check_password_hash", lambda *_: pytest.fail("hash checked while locked"))
    monkeypatch.setattr(type(users["manager1"]), "check_password",
                        lambda *_: pytest.fail("hash checked while locked"))
    for username in ("manager1", "nobody"):
        with pytest.raises(people.LoginThrottled):
            people.authenticate(username=username, password=DEMO_PASSWORD)
