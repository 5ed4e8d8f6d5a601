"""Interactions (交往记录): validation incl. future dates, scope, recycle bin — on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, CustomerShare, Interaction, RecycleBinEntry
from bpm_crm.services import interactions, recycle

VALUES = {"date": "2026-11-20", "place": "客户会议室", "summary": "演示新版本", "detail": "客户对报表模块感兴趣",
          "remarks": None}


@pytest.fixture(autouse=True)
def _today():
    # 2026-11-23 00:30 in Shanghai is still 2026-11-22 in UTC: "today" is the company's day.
    clock.freeze(datetime(2026, 11, 22, 16, 30, tzinfo=UTC))


def make_customer(users, username: str | None, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id if username else None)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def add(users, username: str, customer: Customer, **changes) -> Interaction:
    return interactions.create_interaction(user=users[username],
                                           values={**VALUES, "customer_id": customer.id, **changes})


def test_create_read_update(users):
    customer = make_customer(users, "manager1")
    record = add(users, "manager1", customer)
    assert record.date == date(2026, 11, 20) and record.created_by_id == users["manager1"].id
    assert interactions.get_interaction(interaction_id=record.id, user=users["manager1"]).place == "客户会议室"
    changed = interactions.update_interaction(interaction_id=record.id, user=users["manager1"],
                                              values={"summary": "签订意向书", "detail": ""})
    assert changed.summary == "签订意向书" and changed.detail is None and changed.place == "客户会议室"


def test_today_in_china_is_allowed_and_tomorrow_is_refused(users):
    customer = make_customer(users, "manager1")
    assert add(users, "manager1", customer, date="2026-11-23").date == date(2026, 11, 23)
    with pytest.raises(Invalid) as caught:
        add(users, "manager1", customer, date="2026-11-24")
    assert caught.value.field_errors == {"date": ["交往日期不能晚于今天"]}
    assert db.session.query(Interaction).count() == 1


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"date": ""}, "date", "请填写日期"),
    ({"date": "20.11.2026"}, "date", "日期格式应为 YYYY-MM-DD"),
    ({"place": "  "}, "place", "请填写地点"),
    ({"summary": None}, "summary", "请填写概要"),
    ({"summary": "长" * 201}, "summary", "最多 200 个字符"),
    ({"customer_id": "abc"}, "customer_id", "应为记录编号（整数）"),
])
def test_invalid_input_names_the_field_and_saves_nothing(users, changes, field, message):
    customer = make_customer(users, "manager1")
    with pytest.raises(Invalid) as caught:
        add(users, "manager1", customer, **changes)
    assert caught.value.field_errors[field] == [message]
    assert db.session.scalar(select(Interaction.id)) is None


def test_scope_other_manager_sharee_and_supervisor(users):
    theirs = make_customer(users, "manager2", "成都蜀味餐饮")
    record = add(users, "manager2", theirs)
    mine = add(users, "manager1", make_customer(users, "manager1"))
    manager1 = users["manager1"]
    assert [r.id for r in interactions.list_interactions(user=manager1).items] == [mine.id]
    with pytest.raises(NotFound):
        interactions.get_interaction(interaction_id=record.id, user=manager1)
    with pytest.raises(NotFound):
        interactions.update_interaction(interaction_id=record.id, user=manager1, values={"place": "改"})

    db.session.add(CustomerShare(customer_id=theirs.id, user_id=manager1.id))
    db.session.commit()
    assert interactions.get_interaction(interaction_id=record.id, user=manager1).id == record.id
    with pytest.raises(Forbidden):
        interactions.update_interaction(interaction_id=record.id, user=manager1, values={"place": "改"})
    with pytest.raises(Forbidden):
        add(users, "manager1", theirs)

    assert {r.id for r in interactions.list_interactions(user=users["supervisor1"]).items} == {mine.id}
    assert {r.id for r in interactions.list_interactions(user=users["supervisor2"]).items} == {record.id}


def test_search_filter_and_order_by_date(users):
    first = make_customer(users, "manager1", "杭州云启")
    second = make_customer(users, "manager1", "苏州恒达")
    add(users, "manager1", first, date="2026-11-01", summary="初次拜访")
    add(users, "manager1", first, date="2026-11-15", summary="技术交流", place="杭州西湖茶室")
    add(users, "manager1", second, date="2026-10-01", summary="电话回访")
    manager1 = users["manager1"]
    assert [r.summary for r in interactions.list_interactions(user=manager1).items] == [
        "技术交流", "初次拜访", "电话回访"]
    assert [r.summary for r in interactions.list_interactions(user=manager1, q="茶室").items] == ["技术交流"]
    assert [r.summary for r in interactions.list_interactions(user=manager1, q="恒达").items] == ["电话回访"]
    assert interactions.list_interactions(user=manager1, customer_id=first.id).total == 2


def test_delete_to_bin_and_restore(users):
    record = add(users, "manager1", make_customer(users, "manager1"))
    record_id = record.id
    interactions.delete_interaction(interaction_id=record_id, user=users["manager1"])
    assert db.session.get(Interaction, record_id) is None
    entry = db.session.scalar(select(RecycleBinEntry))
    assert entry.record_type == "interaction" and "演示新版本" in entry.label
    recycle.restore(entry_id=entry.id, user=users["manager1"])
    db.session.expire_all()
    assert interactions.get_interaction(interaction_id=record_id, user=users["manager1"]).date == date(2026, 11, 20)
