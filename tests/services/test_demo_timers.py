"""The timers' demo data (`bpm-crm demo`): customers around the churn period, birthdays in the coming week, a
warning closed by an order placed after it — on any day of the year, SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import CareTask, ChurnWarning, Contact, Customer, InstanceStatus, Order, ProcessInstance
from bpm_crm.services import churn_scan, demo_timers


def last_order(name: str) -> date:
    return db.session.scalar(select(func.max(Order.order_date)).join(Customer, Customer.id == Order.customer_id)
                             .where(Customer.name == name))


# Birthdays one, three and five days on fall on the 27th, 29th and 31st; and on 29 February of a leap year.
@pytest.mark.parametrize("today", [date(2026, 12, 26), date(2028, 2, 28)])
def test_the_demo_data_exercises_the_churn_scan_and_the_care_rules(users, today):
    clock.freeze(datetime(today.year, today.month, today.day, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    assert demo_timers.load() >= 3
    assert demo_timers.load() == 0  # once

    for name, months, days, _manager in demo_timers.LAST_ORDERS:
        assert last_order(name) == churn_scan.months_before(today, months) - timedelta(days=days), name
    ages = {months for _name, months, _days, _manager in demo_timers.LAST_ORDERS}
    assert {5, 6, 7} <= ages
    warned = set(db.session.scalars(select(Customer.name).join(ChurnWarning, ChurnWarning.customer_id == Customer.id)
                                    .where(ChurnWarning.status == "预警")))
    assert warned == {name for name, months, days, _m in demo_timers.LAST_ORDERS if (months, days) > (6, 0)}

    for name, _position, days, _year, lunar in demo_timers.BIRTHDAYS:
        contact = db.session.scalar(select(Contact).where(Contact.name == name))
        day = today + timedelta(days=days)
        assert (contact.birthday.month, contact.birthday.day) == (day.month, day.day), name
        assert (contact.lunar_birthday is not None) == lunar
    soon = {name for name, _p, days, _y, _l in demo_timers.BIRTHDAYS if days <= 3}  # the rule's three days ahead
    assert soon <= set(db.session.scalars(select(Contact.name).join(CareTask, CareTask.contact_id == Contact.id)))

    returning = db.session.scalar(select(Customer).where(Customer.name == demo_timers.RETURNING[0]))
    warning = db.session.scalar(select(ChurnWarning).where(ChurnWarning.customer_id == returning.id))
    assert (warning.status, warning.closed_by) == ("已恢复", "order")
    assert last_order(returning.name) == today > warning.last_order_date
    assert db.session.get(ProcessInstance, warning.process_instance_id).status == InstanceStatus.COMPLETED
