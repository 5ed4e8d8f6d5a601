"""The login log and audit log queries: recording attempts, filters, dates in local time, who may read."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, LoginEvent
from bpm_crm.services import logs, people


def test_every_attempt_is_recorded_with_its_reason(app, users):
    assert people.authenticate(username=" manager1 ", password="demo1234", channel="api", ip="10.0.0.8",
                               user_agent="curl/8.0").username == "manager1"
    assert people.authenticate(username="manager1", password="nope-nope") is None
    assert people.authenticate(username="ghost", password="demo1234") is None
    users["manager2"].active = False
    db.session.commit()
    assert people.authenticate(username="manager2", password="demo1234") is None
    assert people.authenticate(username="manager2", password="wrong-one") is None  # no hint it is deactivated
    events = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id)).all()
    assert [(e.username, e.success, e.reason) for e in events] == [
        ("manager1", True, None), ("manager1", False, "密码错误"), ("ghost", False, "用户不存在"),
        ("manager2", False, "账号已停用"), ("manager2", False, "密码错误")]
    assert (events[0].channel, events[0].ip, events[0].user_agent) == ("api", "10.0.0.8", "curl/8.0")
    assert events[1].channel == "web" and events[1].user_id == users["manager1"].id
    assert events[2].user_id is None


def test_login_log_filters_and_local_dates(app, users):
    # 23:30 UTC on 1 Nov is 07:30 on 2 Nov in Shanghai: it belongs to the 2nd
    clock.freeze(datetime(2026, 11, 1, 23, 30, tzinfo=UTC))
    people.authenticate(username="manager1", password="demo1234")
    clock.freeze(datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    people.authenticate(username="manager1", password="bad-password")
    people.authenticate(username="ghost", password="x")
    admin = users["admin"]
    assert logs.list_login_events(user=admin).total == 3
    assert [e.username for e in logs.list_login_events(user=admin, success=False).items] == ["ghost", "manager1"]
    assert logs.list_login_events(user=admin, username="GHO").total == 1
    on_second = logs.list_login_events(user=admin, date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))
    assert [e.success for e in on_second.items] == [True]
    assert logs.list_login_events(user=admin, date_from=date(2026, 11, 1), date_to=date(2026, 11, 1)).total == 0
    assert logs.list_login_events(user=admin, channel="api").total == 0
    with pytest.raises(Invalid):
        logs.list_login_events(user=admin, date_from=date(2026, 11, 3), date_to=date(2026, 11, 2))


@pytest.mark.parametrize("username", ["manager1", "supervisor1", "agent", "owner"])
def test_only_audit_readers_see_the_logs(app, users, username):
    with pytest.raises(Forbidden):
        logs.list_login_events(user=users[username])
    with pytest.raises(Forbidden):
        logs.list_audit_entries(user=users[username])


def test_audit_filters(app, users):
    first = Customer(name="甲", owner_id=users["manager1"].id, created_by_id=users["manager1"].id)
    second = Customer(name="乙", owner_id=users["manager2"].id, created_by_id=users["manager2"].id)
    db.session.add_all([first, second])
    db.session.commit()
    first.phone, first.updated_by_id = "123", users["manager1"].id
    db.session.commit()
    ceo = users["ceo"]
    assert logs.list_audit_entries(user=ceo, record_type="customer").total == 3
    assert [e.action for e in logs.list_audit_entries(user=ceo, record_type="customer", record_id=first.id).items] \
        == ["update", "create"]
    assert logs.list_audit_entries(user=ceo, record_type="customer", actor_id=users["manager2"].id).total == 1
    assert logs.list_audit_entries(user=ceo, record_type="customer", action="update").total == 1
    assert logs.list_audit_entries(user=ceo, record_type="contact").total == 0
    assert "customer" in logs.record_types() and "user" in logs.record_types()


def test_record_history_for_auditors_record_readers_and_callers_that_checked(app, users):
    customer = Customer(name="甲", owner_id=users["manager1"].id, created_by_id=users["manager1"].id)
    db.session.add(customer)
    db.session.flush()
    contact = Contact(customer_id=customer.id, name="钱经理", gender="男", position="经理", office_phone="0571-1",
                      created_by_id=users["manager1"].id)
    db.session.add(contact)
    db.session.commit()
    contact.position, contact.updated_by_id = "总经理", users["manager1"].id
    db.session.commit()

    history = logs.record_history(record_type="contact", record_id=contact.id, user=users["manager1"])
    assert [e.action for e in history] == ["create", "update"]
    assert history[1].changes == {"position": ["经理", "总经理"]}
    assert len(logs.record_history(record_type="customer", record_id=customer.id, user=users["supervisor1"])) == 1
    assert len(logs.record_history(record_type="customer", record_id=customer.id, user=users["ceo"])) == 1
    with pytest.raises(Forbidden):
        logs.record_history(record_type="customer", record_id=customer.id, user=users["manager2"])
    with pytest.raises(Forbidden):
        logs.record_history(record_type="contact", record_id=contact.id, user=users["manager2"])
    with pytest.raises(Forbidden):
        logs.record_history(record_type="user", record_id=users["manager1"].id, user=users["manager1"])
    assert logs.record_history(record_type="customer", record_id=customer.id, user=users["manager2"],
                               record_checked=True)
