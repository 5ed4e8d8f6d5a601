"""Customer level rules (客户等级规则): stored as data, applied automatically, promote only.

A rule says "a customer whose 已发货/已回款 orders of the last `months` months add up to `min_total` or more
is at least `level`". Applying the rules moves a customer up to the highest level a rule grants and never
down: a level an account manager set by hand, or one a customer earned earlier, is kept.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, insert, literal, select, text

from bpm_crm import clock
from bpm_crm.errors import Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import HISTORY_STATUSES, Customer, LevelRule, Order, User
from bpm_crm.models.base import utcnow
from bpm_crm.services import dictionary, permissions
from bpm_crm.services.transaction import unit_of_work

MAX_MONTHS = 60
CHUNK = 900  # customer ids given in an IN (…), under SQLite's bound-parameter limit


@dataclass(frozen=True)
class ApplyResult:
    """What applying the rules did: how many customers moved up, and to which levels."""

    changed: int
    by_level: dict[str, int]


def list_rules(*, user: User) -> list[LevelRule]:
    """Every rule, highest level first, then by threshold."""
    permissions.require(user, "dictionary.manage")
    rank = _ranks()
    rules = list(db.session.scalars(select(LevelRule)))
    return sorted(rules, key=lambda r: (-rank.get(r.level, -1), r.min_total, r.months, r.id))


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    level = values.get("level")
    if level not in dictionary.choices(dictionary.LEVEL):
        errors["level"] = ["请选择数据字典中的客户等级"]
    try:
        min_total = Decimal(str(values.get("min_total")))
        if not min_total.is_finite() or min_total < 0 or min_total >= Decimal("1e14"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["min_total"] = ["订单金额应为不小于 0 的数字"]
        min_total = Decimal(0)
    months = values.get("months")
    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= MAX_MONTHS:
        errors["months"] = [str(_("统计月数应在 1 到 %(max)s 之间", max=MAX_MONTHS))]
    if errors:
        raise Invalid("请更正标出的字段", errors)
    return {"level": level, "min_total": min_total.quantize(Decimal("0.01")), "months": months,
            "active": bool(values.get("active", True))}


@unit_of_work
def create_rule(*, user: User, values: dict[str, Any]) -> LevelRule:
    """Add a level rule; commits."""
    permissions.require(user, "dictionary.manage")
    rule = LevelRule(**_validated(values))
    db.session.add(rule)
    db.session.flush()
    return rule


@unit_of_work
def update_rule(*, rule_id: int, user: User, values: dict[str, Any]) -> LevelRule:
    """Change a level rule; commits."""
    permissions.require(user, "dictionary.manage")
    rule = _rule(rule_id)
    for name, value in _validated(values).items():
        setattr(rule, name, value)
    return rule


@unit_of_work
def delete_rule(*, rule_id: int, user: User) -> None:
    """Remove a level rule (customers keep the levels they have); commits."""
    permissions.require(user, "dictionary.manage")
    db.session.delete(_rule(rule_id))


def get_rule(*, rule_id: int, user: User) -> LevelRule:
    """One level rule, for its edit form; NotFound otherwise."""
    permissions.require(user, "dictionary.manage")
    return _rule(rule_id)


def _rule(rule_id: int) -> LevelRule:
    rule = db.session.get(LevelRule, rule_id)
    if rule is None:
        raise NotFound("等级规则不存在")
    return rule


def _ranks() -> dict[str, int]:
    """Level -> rank, in the order of the 客户等级 dictionary (普通 < 重点 < VIP)."""
    return {level: rank for rank, level in enumerate(dictionary.choices(dictionary.LEVEL))}


def months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def promotions(customer_ids: Iterable[int] | None = None) -> list[tuple[int, str, str]]:
    """(customer id, current level, new level) for every customer a rule moves up — one aggregate query."""
    ranks = _ranks()
    rules = [r for r in db.session.scalars(select(LevelRule).where(LevelRule.active.is_(True)))
             if r.level in ranks]
    if not rules:
        return []
    today = clock.now().date()
    starts = [months_before(today, rule.months) for rule in rules]
    # One sum per rule over its own window, in a single pass over the orders.
    sums = [func.sum(case((Order.order_date > start, Order.total), else_=0)).label(f"s{i}")
            for i, start in enumerate(starts)]
    totals = select(Order.customer_id.label("customer_id"), *sums).where(
        Order.status.in_(HISTORY_STATUSES), Order.order_date > min(starts), Order.order_date <= today)
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids is not None:
        if not ids:
            return []
        totals = totals.where(Order.customer_id.in_(ids))
    sub = totals.group_by(Order.customer_id).subquery()
    met: list[tuple[ColumnElement[bool], int]] = [
        (sub.c[f"s{i}"] >= rule.min_total, ranks[rule.level]) for i, rule in enumerate(rules)]
    met.sort(key=lambda pair: -pair[1])
    target = case(*met, else_=literal(-1))
    current = case({level: rank for level, rank in ranks.items()}, value=Customer.level, else_=-1)
    query = select(Customer.id, Customer.level, target.label("target")).join(
        sub, sub.c.customer_id == Customer.id).where(target > current)
    if ids is not None and len(ids) <= CHUNK:
        query = query.where(Customer.id.in_(ids))
    names = {rank: level for level, rank in ranks.items()}
    return [(cid, level, names[rank]) for cid, level, rank in db.session.execute(query)]


def apply_rules(*, customer_ids: Iterable[int] | None = None, user_id: int | None = None) -> ApplyResult:
    """Promote the customers (all, or these) that meet a rule; the caller's unit of work commits."""
    db.session.flush()
    changes = promotions(customer_ids)
    by_level: dict[str, list[int]] = {}
    for cid, _old, new in changes:
        by_level.setdefault(new, []).append(cid)
    if changes:
        _write(changes, utcnow(), user_id)
        db.session.expire_all()
    return ApplyResult(changed=len(changes), by_level={level: len(ids) for level, ids in by_level.items()})


# PostgreSQL gets the changes as arrays: two statements whatever their number.
_PG_UPDATE = text(
    "UPDATE customers AS c SET level = t.new, updated_at = :now, updated_by_id = :uid "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:new AS varchar[])) AS t(id, new) WHERE c.id = t.id")
_PG_AUDIT = text(
    "INSERT INTO audit_log (at, user_id, record_type, record_id, action, changes) "
    "SELECT :now, :uid, 'customer', t.id, 'update', json_build_object('level', json_build_array(t.old, t.new)) "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:old AS varchar[]), CAST(:new AS varchar[])) AS t(id, old, new)")


def _write(changes: list[tuple[int, str, str]], now: datetime, user_id: int | None) -> None:
    """Set the new levels and write their audit entries (a bulk UPDATE passes by the audit flush hook)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        params = {"ids": [c[0] for c in changes], "old": [c[1] for c in changes], "new": [c[2] for c in changes],
                  "now": now, "uid": user_id}
        connection.execute(_PG_UPDATE, params)
        connection.execute(_PG_AUDIT, params)
        return
    customers, audit_log = db.metadata.tables["customers"], db.metadata.tables["audit_log"]
    connection.execute(
        customers.update().where(customers.c.id == bindparam("cid"))
        .values(level=bindparam("new_level"), updated_at=now, updated_by_id=user_id),
        [{"cid": cid, "new_level": new} for cid, _old, new in changes])
    connection.execute(insert(audit_log), [
        {"at": now, "user_id": user_id, "record_type": "customer", "record_id": cid, "action": "update",
         "changes": {"level": [old, new]}} for cid, old, new in changes])


@unit_of_work
def apply_now(*, user: User) -> ApplyResult:
    """Apply the active rules to every customer now ("立即应用"); commits."""
    permissions.require(user, "dictionary.manage")
    return apply_rules(user_id=user.id)
