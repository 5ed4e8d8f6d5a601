"""Customer level rules: stored as data, promote only, the last N months of 已发货/已回款 orders count."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Customer, LevelRule, Order
from bpm_crm.services import levels


@pytest.fixture
def today():
    clock.freeze(datetime(2026, 6, 15, 9, 0, tzinfo=UTC))
    return date(2026, 6, 15)


def customer(users, name: str, level: str = "普通") -> int:
    record = Customer(name=name, number=f"KH{name}", owner_id=users["manager1"].id, level=level)
    db.session.add(record)
    db.session.commit()
    return record.id


def order(customer_id: int, number: str, day: date, total: str, status: int = 6) -> None:
    db.session.add(Order(number=number, customer_id=customer_id, order_date=day, status=status,
                         total=Decimal(total)))
    db.session.commit()


def level_of(customer_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Customer, customer_id).level


def rule(users, level: str, min_total: str, months: int = 12, active: bool = True) -> LevelRule:
    return levels.create_rule(user=users["admin"], values={"level": level, "min_total": Decimal(min_total),
                                                           "months": months, "active": active})


def test_a_customer_crossing_the_threshold_becomes_vip(users, today):
    rule(users, "VIP", "500000")
    rule(users, "重点", "100000")
    big = customer(users, "大客户")
    middle = customer(users, "中客户")
    small = customer(users, "小客户")
    order(big, "A1", date(2026, 1, 10), "300000")
    order(big, "A2", date(2026, 5, 1), "250000", status=5)
    order(middle, "B1", date(2026, 2, 1), "150000")
    order(small, "C1", date(2026, 2, 1), "99999.99")
    result = levels.apply_now(user=users["admin"])
    assert (level_of(big), level_of(middle), level_of(small)) == ("VIP", "重点", "普通")
    assert result.changed == 2 and result.by_level == {"VIP": 1, "重点": 1}
    entry = db.session.scalar(select(AuditLog).where(AuditLog.record_type == "customer", AuditLog.record_id == big,
                                                     AuditLog.action == "update"))
    assert entry.changes == {"level": ["普通", "VIP"]} and entry.user_id == users["admin"].id
    assert levels.apply_now(user=users["admin"]).changed == 0  # applying again changes nothing


def test_only_shipped_or_paid_orders_inside_the_window_count(users, today):
    rule(users, "VIP", "100000", months=6)
    old = customer(users, "老订单")
    unshipped = customer(users, "未发货")
    future = customer(users, "未来订单")
    order(old, "O1", date(2025, 12, 15), "200000")  # exactly six months ago: outside
    order(old, "O2", date(2025, 12, 16), "50000")  # inside
    order(unshipped, "U1", date(2026, 6, 1), "200000", status=3)
    order(future, "F1", date(2026, 6, 16), "200000")
    assert levels.apply_now(user=users["admin"]).changed == 0
    order(old, "O3", date(2026, 6, 15), "50000")
    assert levels.apply_now(user=users["admin"]).changed == 1 and level_of(old) == "VIP"


def test_rules_stored_as_data_change_the_outcome(users, today):
    c = customer(users, "规则客户")
    order(c, "R1", date(2026, 3, 1), "80000")
    vip = rule(users, "VIP", "100000")
    levels.apply_now(user=users["admin"])
    assert level_of(c) == "普通"
    levels.update_rule(rule_id=vip.id, user=users["admin"], values={"level": "VIP", "min_total": Decimal("50000"),
                                                                    "months": 12})
    levels.apply_now(user=users["admin"])
    assert level_of(c) == "VIP"


def test_promote_only_never_demote_and_inactive_rules_are_ignored(users, today):
    vip_by_hand = customer(users, "手工VIP", level="VIP")
    key = customer(users, "重点客户", level="重点")
    order(key, "K1", date(2026, 3, 1), "200000")
    order(vip_by_hand, "V1", date(2026, 3, 1), "200000")
    rule(users, "VIP", "100", active=False)
    rule(users, "重点", "100000")
    assert levels.apply_now(user=users["admin"]).changed == 0
    assert (level_of(vip_by_hand), level_of(key)) == ("VIP", "重点")


def test_apply_rules_limited_to_some_customers(users, today):
    rule(users, "重点", "1000")
    first, second = customer(users, "甲"), customer(users, "乙")
    order(first, "X1", date(2026, 3, 1), "5000")
    order(second, "X2", date(2026, 3, 1), "5000")
    levels.apply_rules(customer_ids=[first])
    db.session.commit()
    assert (level_of(first), level_of(second)) == ("重点", "普通")
    assert levels.apply_rules(customer_ids=[]).changed == 0


@pytest.mark.parametrize(("values", "field"), [
    ({"level": "钻石", "min_total": Decimal("1"), "months": 12}, "level"),
    ({"level": "VIP", "min_total": Decimal("-1"), "months": 12}, "min_total"),
    ({"level": "VIP", "min_total": Decimal("1"), "months": 0}, "months"),
    ({"level": "VIP", "min_total": Decimal("1"), "months": 61}, "months"),
])
def test_invalid_rules_are_refused(users, values, field):
    with pytest.raises(Invalid) as refused:
        levels.create_rule(user=users["admin"], values=values)
    assert field in refused.value.field_errors
    assert db.session.scalar(select(LevelRule.id)) is None


def test_rules_need_dictionary_manage(users):
    with pytest.raises(Forbidden):
        levels.list_rules(user=users["director"])
    with pytest.raises(Forbidden):
        levels.apply_now(user=users["manager1"])


def test_months_before_clamps_to_the_end_of_month():
    assert levels.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert levels.months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)
