"""Churn warnings (流失预警): transitions, measures in order, customer 已流失, scope, bin — SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from sqlalchemy import text as sql

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import ChurnMeasure, ChurnWarning, Customer, CustomerShare, Order, RecycleBinEntry
from bpm_crm.services import churn, recycle


def make_customer(users, username: str | None, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id if username else None)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def raise_for(users, username: str, customer: Customer) -> ChurnWarning:
    return churn.create_warning(user=users[username], values={"customer_id": customer.id})


def test_create_names_the_owner_and_the_last_order(users):
    customer = make_customer(users, "manager1")
    db.session.add_all([
        Order(number="DD1", customer_id=customer.id, order_date=date(2026, 3, 1), status=6),
        Order(number="DD2", customer_id=customer.id, order_date=date(2026, 5, 1), status=5),
        Order(number="DD3", customer_id=customer.id, order_date=date(2026, 9, 1), status=1),  # placed: it counts
    ])
    db.session.commit()
    warning = raise_for(users, "supervisor1", customer)
    assert warning.status == "预警" and warning.manager_id == users["manager1"].id
    assert warning.last_order_date == date(2026, 9, 1) and warning.created_by_id == users["supervisor1"].id
    assert churn.open_task(warning).bpmn_id == "handle"  # its process: the account manager's task
    with pytest.raises(Conflict) as caught:
        raise_for(users, "manager1", customer)
    assert caught.value.message == "该客户已有未关闭的流失预警"


def test_measures_then_confirm_marks_the_customer_lost(users):
    customer = make_customer(users, "manager1")
    warning = raise_for(users, "manager1", customer)
    with pytest.raises(Conflict) as caught:
        churn.confirm(warning_id=warning.id, user=users["manager1"], reason="已转向竞争对手")
    assert caught.value.message == "请先记录至少一条暂缓措施，再确认流失"
    churn.add_measure(warning_id=warning.id, user=users["manager1"], content="上门拜访，了解原因")
    churn.add_measure(warning_id=warning.id, user=users["supervisor1"], content="给予九折优惠")
    churn.add_measure(warning_id=warning.id, user=users["manager1"], content="电话回访")
    with pytest.raises(Invalid) as missing:
        churn.confirm(warning_id=warning.id, user=users["manager1"], reason="  ")
    assert missing.value.field_errors == {"reason": ["请填写流失原因"]}
    confirmed = churn.confirm(warning_id=warning.id, user=users["manager1"], reason="已转向竞争对手")
    assert confirmed.status == "确认流失" and confirmed.reason == "已转向竞争对手" and confirmed.closed_at
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).status == "已流失"
    measures = churn.get_warning(warning_id=warning.id, user=users["manager1"]).measures
    assert [(m.content, m.author.username) for m in measures] == [
        ("上门拜访，了解原因", "manager1"), ("给予九折优惠", "supervisor1"), ("电话回访", "manager1")]
    assert all(m.created_at for m in measures)
    for call in (lambda: churn.add_measure(warning_id=warning.id, user=users["manager1"], content="再试"),
                 lambda: churn.recover(warning_id=warning.id, user=users["manager1"]),
                 lambda: churn.confirm(warning_id=warning.id, user=users["manager1"], reason="再次")):
        with pytest.raises(Conflict):
            call()
    with pytest.raises(Conflict) as lost:
        raise_for(users, "manager1", customer)
    assert lost.value.message == "该客户已确认流失"


def test_first_measure_moves_to_deferred_and_recover_closes(users):
    customer = make_customer(users, "manager1")
    warning = raise_for(users, "manager1", customer)
    assert churn.add_measure(warning_id=warning.id, user=users["manager1"], content="赠送试用").status == "暂缓流失"
    with pytest.raises(Invalid):
        churn.add_measure(warning_id=warning.id, user=users["manager1"], content="")
    recovered = churn.recover(warning_id=warning.id, user=users["manager1"])
    assert recovered.status == "已恢复" and recovered.closed_at
    with pytest.raises(Conflict) as caught:
        churn.recover(warning_id=warning.id, user=users["manager1"])
    assert caught.value.message == "流失预警当前为“已恢复”，不能再标记为已恢复"
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).status == "正常"
    assert raise_for(users, "manager1", customer).status == "预警"  # a closed warning allows a new one


def test_scope_filters_and_sharee(users):
    mine = raise_for(users, "manager1", make_customer(users, "manager1", "杭州云启"))
    theirs_customer = make_customer(users, "manager2", "成都蜀味")
    theirs = raise_for(users, "manager2", theirs_customer)
    manager1 = users["manager1"]
    assert [w.id for w in churn.list_warnings(user=manager1).items] == [mine.id]
    with pytest.raises(NotFound):
        churn.get_warning(warning_id=theirs.id, user=manager1)
    with pytest.raises(NotFound):
        churn.add_measure(warning_id=theirs.id, user=manager1, content="x")
    with pytest.raises(Invalid):
        raise_for(users, "manager1", theirs_customer)
    db.session.add(CustomerShare(customer_id=theirs_customer.id, user_id=manager1.id))
    db.session.commit()
    assert churn.get_warning(warning_id=theirs.id, user=manager1).id == theirs.id
    with pytest.raises(Forbidden):
        churn.add_measure(warning_id=theirs.id, user=manager1, content="x")
    assert db.session.scalar(select(ChurnMeasure.id)) is None

    churn.add_measure(warning_id=mine.id, user=manager1, content="拜访")
    director = users["director"]
    assert {w.id for w in churn.list_warnings(user=director).items} == {mine.id, theirs.id}
    assert [w.id for w in churn.list_warnings(user=director, status="暂缓流失").items] == [mine.id]
    assert [w.id for w in churn.list_warnings(user=director, manager_id=users["manager2"].id).items] == [theirs.id]
    assert [w.id for w in churn.list_warnings(user=director, q="蜀味").items] == [theirs.id]
    assert [w.id for w in churn.list_warnings(user=users["supervisor1"]).items] == [mine.id]
    assert {label for _, label in churn.manager_choices(user=director)} == {"李明", "刘洋"}
    with pytest.raises(Forbidden):
        churn.list_warnings(user=users["agent"])


def test_delete_with_measures_to_bin_and_restore_in_order(users):
    customer = make_customer(users, "manager1")
    warning = raise_for(users, "manager1", customer)
    for text in ("第一条", "第二条"):
        churn.add_measure(warning_id=warning.id, user=users["manager1"], content=text)
    warning_id = warning.id
    churn.delete_warning(warning_id=warning_id, user=users["manager1"])
    assert db.session.get(ChurnWarning, warning_id) is None and db.session.scalar(select(ChurnMeasure.id)) is None
    entry = db.session.scalar(select(RecycleBinEntry))
    recycle.restore(entry_id=entry.id, user=users["manager1"])
    db.session.expire_all()
    back = churn.get_warning(warning_id=warning_id, user=users["manager1"])
    assert back.status == "暂缓流失" and [m.content for m in back.measures] == ["第一条", "第二条"]


@pytest.mark.commits  # the migration runs on its own connection, down and up again
def test_the_migration_closes_duplicate_open_warnings_keeping_the_newest(app, users):
    twice = make_customer(users, "manager1").id
    once = make_customer(users, "manager2", "成都蜀味餐饮").id
    directory = app.extensions["migrate"].directory
    db.session.remove()
    downgrade(directory=directory, revision="6a1c0d5e8b21")  # before one open warning per customer was the rule
    try:
        with db.engine.begin() as connection:
            for customer_id, status in ((twice, "预警"), (twice, "暂缓流失"), (twice, "预警"), (once, "确认流失"),
                                        (once, "暂缓流失")):
                connection.execute(sql(
                    "INSERT INTO churn_warnings (customer_id, status, created_at, updated_at) "
                    "VALUES (:customer_id, :status, '2026-11-01', '2026-11-01')"),
                    {"customer_id": customer_id, "status": status})
    finally:
        upgrade(directory=directory)
    rows = db.session.scalars(select(ChurnWarning).order_by(ChurnWarning.id)).all()
    assert [(row.customer_id, row.status, row.closed_by) for row in rows] == [
        (twice, "已恢复", "merged"), (twice, "已恢复", "merged"), (twice, "预警", None),
        (once, "确认流失", None), (once, "暂缓流失", None)]
    assert all(row.closed_at is not None for row in rows[:2])
