"""Ending sessions: a password change or reset and a deactivation end every session, cookie and token."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from bpm_crm.errors import Invalid
from bpm_crm.extensions import db
from bpm_crm.models import ApiToken, AuditLog, User
from bpm_crm.services import admin, people
from bpm_crm.services.demo import DEMO_PASSWORD

BEFORE = "07d640e9082c"


def tokens(user: User) -> int:
    return db.session.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == user.id)) or 0


def signed_in(user: User) -> tuple[str, str]:
    """A session id as Flask-Login stores it, and a bearer token."""
    token, _row = people.issue_api_token(user=user, ttl_hours=1)
    return user.get_id(), token


def test_the_session_id_carries_the_stamp(app, users):
    manager = users["manager1"]
    session_id = manager.get_id()
    assert session_id == f"{manager.id}:{manager.session_stamp}" and len(manager.session_stamp) == 32
    assert people.user_for_session(session_id) is manager
    for stale in (str(manager.id), f"{manager.id}:", f"{manager.id}:{'0' * 32}", "x:y", "", f"{users['admin'].id}"
                  f":{manager.session_stamp}"):
        assert people.user_for_session(stale) is None, stale
    assert len({user.session_stamp for user in users.values()}) == len(users)


def test_changing_the_password_ends_sessions_and_tokens(app, users):
    manager = users["manager1"]
    session_id, token = signed_in(manager)
    people.issue_api_token(user=manager, ttl_hours=1)
    other_session, other_token = signed_in(users["manager2"])

    people.change_password(user=manager, current_password=DEMO_PASSWORD, new_password="another-secret-1")

    assert people.user_for_session(session_id) is None and people.user_for_token(token) is None
    assert tokens(manager) == 0
    assert people.user_for_session(manager.get_id()) == manager
    assert people.user_for_session(other_session) is not None and people.user_for_token(other_token) is not None
    assert people.authenticate(username="manager1", password="another-secret-1") is not None
    entry = db.session.scalars(select(AuditLog).where(AuditLog.record_type == "user",
                                                      AuditLog.record_id == manager.id)).all()[-1]
    assert entry.changes == {"password": ["******", "******"]} and entry.user_id == manager.id


@pytest.mark.parametrize(("current", "new", "fields"), [
    ("wrong-password", "another-secret-1", {"current_password"}),
    (DEMO_PASSWORD, "short", {"password"}),
    (DEMO_PASSWORD, "x" * 201, {"password"}),
    (DEMO_PASSWORD, DEMO_PASSWORD, {"password"}),
    ("wrong-password", "short", {"current_password", "password"}),
])
def test_a_refused_change_keeps_everything(app, users, current, new, fields):
    manager = users["manager1"]
    session_id, token = signed_in(manager)
    with pytest.raises(Invalid) as refused:
        people.change_password(user=manager, current_password=current, new_password=new)
    assert set(refused.value.field_errors) == fields
    db.session.expire_all()
    assert people.user_for_session(session_id) is not None and people.user_for_token(token) is not None
    assert manager.check_password(DEMO_PASSWORD)


def test_a_reset_by_the_admin_ends_sessions_and_tokens(app, users):
    session_id, token = signed_in(users["manager2"])
    admin.reset_password(user=users["admin"], user_id=users["manager2"].id, password="new-password-1")
    assert people.user_for_session(session_id) is None and people.user_for_token(token) is None
    assert tokens(users["manager2"]) == 0


def test_deactivation_ends_sessions_and_tokens_for_good(app, users):
    session_id, token = signed_in(users["manager2"])
    admin.set_active(user=users["admin"], user_id=users["manager2"].id, active=False)
    assert tokens(users["manager2"]) == 0
    admin.set_active(user=users["admin"], user_id=users["manager2"].id, active=True)
    assert people.user_for_session(session_id) is None and people.user_for_token(token) is None


def test_the_stamp_never_reaches_the_audit_log(app, users):
    people.change_password(user=users["manager1"], current_password=DEMO_PASSWORD, new_password="another-secret-1")
    changes = db.session.scalars(select(AuditLog.changes).where(AuditLog.record_type == "user")).all()
    assert not any("session_stamp" in change for change in changes)


def test_a_user_revokes_all_his_tokens(app, users):
    manager = users["manager1"]
    _session_id, first = signed_in(manager)
    _other, second = signed_in(manager)
    _kept_session, kept = signed_in(users["manager2"])
    assert people.active_api_tokens(manager) == 2
    assert people.revoke_api_tokens(user=manager) == 2
    assert people.user_for_token(first) is None and people.user_for_token(second) is None
    assert people.user_for_token(kept) is not None and people.active_api_tokens(manager) == 0


@pytest.mark.commits  # the migration runs on its own connection, down and up again
def test_the_migration_gives_every_existing_user_his_own_stamp(app, users):
    directory = app.extensions["migrate"].directory
    db.session.remove()
    downgrade(directory=directory, revision=BEFORE)
    try:
        assert "session_stamp" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        with db.engine.begin() as connection:
            count = connection.scalar(text("SELECT count(*) FROM users"))
    finally:
        upgrade(directory=directory)
    stamps = db.session.scalars(select(User.session_stamp)).all()
    assert len(stamps) == count == len(users) and len(set(stamps)) == count
    assert all(len(stamp) == 32 for stamp in stamps)
    indexes = {index["name"]: index["column_names"]
               for index in inspect(db.session.connection()).get_indexes("login_events")}
    assert indexes["ix_login_events_username_at"] == ["username", "at"]
    assert indexes["ix_login_events_ip_at"] == ["ip", "at"]
    assert people.authenticate(username="manager1", password=DEMO_PASSWORD) is not None
