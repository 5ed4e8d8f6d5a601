"""Care rules (关怀规则): the timers that put care tasks into account managers' inboxes.

A rule names its trigger — a contact's birthday (solar, or lunar where the contact keeps one), a date
every year in the solar or lunar calendar (元旦, 春节, 端午, 中秋, 国庆 …), an order, a service request
closed (归档) — and the task it makes: due `offset_days` after the trigger, made `lead_days` before it is
due, for the customers (and contacts) its `condition` holds for, titled by its `message`. Process owners
add and change rules as data; the condition is diagram code, run in the sandbox with a time bound.

The daily `care_scan` process runs `plan` (its `care.scan` service task): for each rule it lists the
occasions due from a few days back (so a missed day is caught up) to `lead_days` ahead, drops those the
rule has already made (care_occurrences: one per rule, person and occurrence, kept even when the task is
deleted), customers who have churned (已流失) or have no account manager, and those the condition refuses,
and makes the rest in bulk. Their processes start after the commit, in batches (`start_processes`).
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, and_, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bpm_crm.engine import sandbox
from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.care import CARE_RULE
from bpm_crm.forms.rules import INVALID, read_all
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import (
    CareOccurrence,
    CareRule,
    CareTask,
    CareTrigger,
    Contact,
    Customer,
    CustomerStatus,
    Order,
    ServiceRequest,
    ServiceStatus,
    User,
)
from bpm_crm.models.base import utcnow
from bpm_crm.services import care, care_conditions, care_dates, dictionary, jobs, permissions
from bpm_crm.services.customer_records import local_today
from bpm_crm.services.transaction import unit_of_work

MANAGE = "process.deploy"  # rules are the process owner's, as the diagrams are
JOB_START = "care.start_processes"
BATCH = 100  # processes started per job
EVALUATE_BATCH = 500  # subjects per sandbox call
CONDITION_SECONDS = 2.0  # time bound of one sandbox call
RULE_BUDGET_SECONDS = 120.0  # all conditions of one rule in one run
CUSTOMER_FIELDS = tuple(care_conditions.FIELD_TYPES)  # what a condition sees of the customer
CONTACT_FIELDS = ("name", "gender", "position", "birthday", "lunar_birthday", "mobile")
PLACEHOLDERS = {"customer", "contact", "date", "rule", "order", "service"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_BRACES = re.compile(r"\{([^{}]*)\}")
FIGURES = ("rules", "created", "skipped_existing", "skipped_churned", "skipped_no_owner", "skipped_condition")

KEY_CUSTOMERS = 'customer["level"] in ("重点", "VIP")'
# name, kind, trigger, calendar, month, day, offset, lead, condition, message
DEFAULT_RULES: list[tuple[str, str, str, str, int | None, int | None, int, int, str | None, str]] = [
    ("联系人生日", "生日", "birthday", "solar", None, None, 0, 3, None, "{contact}生日（{date}），致电或送上祝福"),
    ("元旦问候", "节日", "annual", "solar", 1, 1, 0, 5, KEY_CUSTOMERS, "元旦问候：{customer}"),
    ("春节问候", "节日", "annual", "lunar", 1, 1, -2, 7, KEY_CUSTOMERS, "春节问候：{customer}（{date}）"),
    ("端午节问候", "节日", "annual", "lunar", 5, 5, 0, 5, KEY_CUSTOMERS, "端午节问候：{customer}（{date}）"),
    ("中秋节问候", "节日", "annual", "lunar", 8, 15, -1, 7, KEY_CUSTOMERS, "中秋节问候：{customer}（{date}）"),
    ("国庆节问候", "节日", "annual", "solar", 10, 1, 0, 5, KEY_CUSTOMERS, "国庆节问候：{customer}"),
    ("订单回访", "售后回访", "order", "solar", None, None, 7, 0, None, "订单 {order} 下单一周，回访{customer}"),
    ("服务回访", "售后回访", "service", "solar", None, None, 3, 0, None, "客户服务 {service} 办结三天，回访{customer}"),
]


# The rules as data ------------------------------------------------------------------------------

def seed_rules() -> int:
    """The default rules (birthdays, festivals, follow-ups) when there are none yet; joins the transaction."""
    if db.session.scalar(select(CareRule.id).limit(1)) is not None:
        return 0
    for name, kind, trigger, calendar, month, day, offset, lead, condition, message in DEFAULT_RULES:
        db.session.add(CareRule(name=name, kind=kind, trigger=trigger, calendar=calendar, month=month, day=day,
                                offset_days=offset, lead_days=lead, condition=condition, message=message))
    db.session.flush()
    return len(DEFAULT_RULES)


def list_rules(*, user: User) -> list[CareRule]:
    """Every rule, active ones first."""
    permissions.require(user, MANAGE)
    return list(db.session.scalars(select(CareRule).order_by(CareRule.active.desc(), CareRule.id)))


def get_rule(*, rule_id: int, user: User) -> CareRule:
    permissions.require(user, MANAGE)
    rule = db.session.get(CareRule, rule_id)
    if rule is None:
        raise NotFound("关怀规则不存在", code="care_rule_not_found")
    return rule


def sample_subject() -> dict[str, Any]:
    """What a condition sees: a customer and a contact, as dicts of their fields (for trying a condition)."""
    return {"customer": {"number": "KH000001", "name": "杭州云启科技有限公司", "short_name": "云启",
                         "region": "浙江省/杭州市", "industry": "信息技术", "source": "展会", "level": "VIP",
                         "satisfaction": 4, "credit": 5, "status": CustomerStatus.NORMAL.value},
            "contact": {"name": "钱伟", "gender": "男", "position": "采购经理", "birthday": "1980-08-15",
                        "lunar_birthday": None, "mobile": "13800138000"}}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    checked = read_all(values, CARE_RULE, options={"kind": dictionary.choices(dictionary.CARE_KIND)})
    cleaned = checked.values
    if cleaned.get("trigger") == CareTrigger.ANNUAL:
        calendar = cleaned.get("calendar") or care_dates.SOLAR
        cleaned["calendar"] = calendar
        if cleaned.get("month") is None:
            checked.errors.setdefault("month", ["请填写月份"])
        if cleaned.get("day") is None:
            checked.errors.setdefault("day", ["请填写日期"])
        elif cleaned.get("month") is not None and not care_dates.valid_day(calendar, cleaned["month"],
                                                                            cleaned["day"]):
            message = "这个月没有这一天" if calendar == care_dates.SOLAR else "农历每月最多 30 天"
            checked.errors.setdefault("day", [message])
    else:
        cleaned.update(calendar=care_dates.SOLAR, month=None, day=None)
    unknown = sorted({name for name in _BRACES.findall(cleaned.get("message") or "")} - PLACEHOLDERS)
    if unknown:
        checked.errors.setdefault("message", ["主题中只能使用这些占位符：{customer} {contact} {date} {rule} {order} "
                                              "{service}", f"{{{unknown[0]}}}"])
    condition = (cleaned.get("condition") or "").strip() or None
    cleaned["condition"] = condition
    if condition and "condition" not in checked.errors:
        problem = condition_problem(condition)
        if problem:
            checked.errors["condition"] = problem
    return checked.done()


def condition_problem(condition: str) -> list[str] | None:
    """Why a condition cannot be used (not a safe expression, slow, or failing on a sample): the messages."""
    try:
        sandbox.check_expression(condition)
        evaluate(condition, [(sample_subject()["customer"], sample_subject()["contact"])])
    except sandbox.UnsafeCode as exc:
        details = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
        return ["条件不是允许的表达式", *(str(detail) for detail in details[:3])]
    except sandbox.SandboxTimeout:
        return ["条件计算超时"]
    except (sandbox.SandboxError, ConditionFailed) as exc:
        return ["条件在示例客户上出错", str(exc)[:300]]
    return None


@unit_of_work
def create_rule(*, user: User, values: dict[str, Any]) -> CareRule:
    """Add a rule (it makes tasks from its next run on, never for occasions before it existed); commits."""
    permissions.require(user, MANAGE)
    rule = CareRule(**_clean(values), active=True, created_by_id=user.id, updated_by_id=user.id)
    db.session.add(rule)
    try:
        db.session.flush()
    except IntegrityError:
        raise Invalid(INVALID, {"name": ["已有同名规则"]}) from None
    return rule


@unit_of_work
def update_rule(*, rule_id: int, user: User, values: dict[str, Any]) -> CareRule:
    """Change a rule; tasks it made stay as they are, and it never makes a second one for an occasion; commits."""
    rule = get_rule(rule_id=rule_id, user=user)
    current = {rule_field.name: getattr(rule, rule_field.name) for rule_field in CARE_RULE}
    for name, value in _clean({**current, **values}).items():
        setattr(rule, name, value)
    rule.updated_by_id = user.id
    try:
        db.session.flush()
    except IntegrityError:
        raise Invalid(INVALID, {"name": ["已有同名规则"]}) from None
    return rule


@unit_of_work
def set_active(*, rule_id: int, user: User, active: bool) -> CareRule:
    """Pause or resume a rule; commits."""
    rule = get_rule(rule_id=rule_id, user=user)
    rule.active = bool(active)
    rule.updated_by_id = user.id
    return rule


@unit_of_work
def delete_rule(*, rule_id: int, user: User) -> None:
    """Remove a rule that never made a task (pause it otherwise, so its tasks keep saying why); commits."""
    rule = get_rule(rule_id=rule_id, user=user)
    if db.session.scalar(select(CareTask.id).where(CareTask.rule_id == rule.id).limit(1)) is not None:
        raise Conflict("此规则已生成过关怀任务，不能删除；可以停用", code="care_rule_used")
    db.session.delete(rule)


def render(template: str, values: dict[str, str]) -> str:
    """A rule's message with its placeholders filled in (unknown ones are left as written)."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)[:200]


# Conditions, in the sandbox ----------------------------------------------------------------------

class ConditionFailed(RuntimeError):
    """A rule's condition failed on the data (not a boolean, a missing field …)."""


def evaluate(condition: str, subjects: list[tuple[dict[str, Any], dict[str, Any] | None]],
             *, deadline: float | None = None) -> list[bool]:
    """Whether the condition holds for each (customer, contact), in sandbox calls of EVALUATE_BATCH subjects."""
    matches: list[bool] = []
    source = f"matches = [bool({condition}) for customer, contact in pairs]"
    for start in range(0, len(subjects), EVALUATE_BATCH):
        if deadline is not None and time.monotonic() > deadline:
            raise ConditionFailed(f"the condition took longer than {RULE_BUDGET_SECONDS:g} s for this run")
        data: dict[str, Any] = {"pairs": [list(pair) for pair in subjects[start:start + EVALUATE_BATCH]]}
        try:
            sandbox.execute(source, data, timeout=CONDITION_SECONDS)
        except sandbox.SandboxTimeout:
            raise
        except sandbox.SandboxError as exc:
            raise ConditionFailed(str(exc)) from exc
        result = data.get("matches")
        if not isinstance(result, list):
            raise ConditionFailed("the condition gave no result")
        matches.extend(bool(value) for value in result)
    return matches


# Planning: the care.scan service task ----------------------------------------------------------

@dataclass
class Occasion:
    """One task a rule would make: for whom, on which day, and the words of its title."""

    occurrence: str
    customer_id: int
    contact_id: int | None
    due: date
    anchor: date
    words: dict[str, str] = field(default_factory=dict)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _month_day(column: Any) -> Any:
    if db.engine.dialect.name == "postgresql":
        return func.to_char(column, "MM-DD")
    return func.strftime("%m-%d", column)


def _birthdays(start: date, end: date) -> Iterator[tuple[int, int, date]]:
    """(contact, customer, solar day) of birthdays in [start, end]: solar ones, and lunar ones where kept."""
    solar = care_dates.solar_month_days(start, end)
    query = select(Contact.id, Contact.customer_id, _month_day(Contact.birthday)).where(
        Contact.lunar_birthday.is_(None), Contact.birthday.is_not(None),
        _month_day(Contact.birthday).in_(sorted(solar)))
    for contact_id, customer_id, month_day in db.session.execute(query):
        yield contact_id, customer_id, solar[month_day]
    lunar = care_dates.lunar_month_days(start, end)
    query = select(Contact.id, Contact.customer_id, Contact.lunar_birthday).where(
        Contact.lunar_birthday.in_(sorted(lunar)))
    for contact_id, customer_id, lunar_day in db.session.execute(query):
        if lunar_day in lunar:
            yield contact_id, customer_id, lunar[lunar_day]


def occasions(rule: CareRule, start: date, end: date, figures: dict[str, Any] | None = None) -> list[Occasion]:
    """The occasions of a rule whose task is due in [start, end] (an annual rule's customers narrowed in SQL: those
    it leaves out are counted in `figures`)."""
    offset = timedelta(days=rule.offset_days)
    first, last = start - offset, end - offset  # the triggers whose due day falls in the window
    found: list[Occasion] = []
    if rule.trigger == CareTrigger.BIRTHDAY:
        for contact_id, customer_id, day in _birthdays(first, last):
            found.append(Occasion(f"contact:{contact_id}:{day.isoformat()}", customer_id, contact_id, day + offset,
                                  day))
    elif rule.trigger == CareTrigger.ANNUAL and rule.month and rule.day:
        days = care_dates.occurrences(rule.calendar, rule.month, rule.day, first, last)
        customer_ids = _annual_customers(rule, len(days), figures) if days else []
        for day in days:
            found.extend(Occasion(f"customer:{customer_id}:{day.isoformat()}", customer_id, None, day + offset, day)
                         for customer_id in customer_ids)
    elif rule.trigger == CareTrigger.ORDER:
        for order_id, number, customer_id, day in db.session.execute(
                select(Order.id, Order.number, Order.customer_id, Order.order_date)
                .where(Order.order_date.between(first, last)).order_by(Order.id)):
            found.append(Occasion(f"order:{order_id}", customer_id, None, day + offset, day, {"order": str(number)}))
    elif rule.trigger == CareTrigger.SERVICE:
        zone = _zone()
        since = datetime.combine(first, datetime.min.time(), zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        until = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(
            ZoneInfo("UTC")).replace(tzinfo=None)
        for request_id, request_number, customer_id, archived in db.session.execute(
                select(ServiceRequest.id, ServiceRequest.number, ServiceRequest.customer_id, ServiceRequest.archived_at)
                .where(ServiceRequest.status == ServiceStatus.ARCHIVED.value, ServiceRequest.archived_at >= since,
                       ServiceRequest.archived_at < until).order_by(ServiceRequest.id)):
            if archived is None:
                continue
            day = archived.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
            found.append(Occasion(f"service:{request_id}", customer_id, None, day + offset, day,
                                  {"service": request_number or f"#{request_id}"}))
    return found


def _annual_customers(rule: CareRule, days: int, figures: dict[str, Any] | None) -> list[int]:
    """The customers an annual rule may greet: in business, and passing the leading simple terms of its condition
    (care_conditions); the others are counted, once per day, as the checks in plan_rule would count them."""
    lost = Customer.status == CustomerStatus.LOST.value
    in_business = and_(Customer.status != CustomerStatus.LOST.value, Customer.owner_id.is_not(None))
    ids = list(db.session.scalars(select(Customer.id).where(in_business, *care_conditions.customer_clauses(
        rule.condition)).order_by(Customer.id)))
    if figures is not None:
        churned, pool, working = db.session.execute(select(
            func.coalesce(func.sum(case((lost, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(~lost, Customer.owner_id.is_(None)), 1), else_=0)), 0),
            func.coalesce(func.sum(case((in_business, 1), else_=0)), 0))).one()
        figures["skipped_churned"] += int(churned) * days
        figures["skipped_no_owner"] += int(pool) * days
        figures["skipped_condition"] += (int(working) - len(ids)) * days
    return ids


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _known(rule: CareRule, found: list[Occasion]) -> set[str]:
    """The occurrences the rule has already made a task for."""
    known: set[str] = set()
    for chunk in _chunks([occasion.occurrence for occasion in found]):
        known.update(db.session.scalars(select(CareOccurrence.occurrence).where(
            CareOccurrence.rule_id == rule.id, CareOccurrence.occurrence.in_(chunk))))
    return known


def _rows(query: Select, ids: list[int]) -> dict[int, Any]:
    rows: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(ids))):
        rows.update((row.id, row) for row in db.session.execute(query.where(query.selected_columns[0].in_(chunk))))
    return rows


def _as_dict(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: (value.isoformat() if isinstance(value, date) else value)
            for name, value in ((name, getattr(row, name)) for name in names)}


def _first_contacts(customer_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        found.update(db.session.execute(select(Contact.customer_id, func.min(Contact.id))
                                        .where(Contact.customer_id.in_(chunk)).group_by(Contact.customer_id)).all())
    return found


def _insert_new_occurrences(rule: CareRule, keys: list[str]) -> set[str]:
    """Claim the occurrences for the rule; the ones nobody claimed before (a concurrent run gets none twice)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    now = utcnow()
    claimed: set[str] = set()
    for chunk in _chunks(keys):
        statement = dialect.insert(CareOccurrence).on_conflict_do_nothing().returning(CareOccurrence.occurrence)
        claimed.update(db.session.scalars(statement, [{"rule_id": rule.id, "occurrence": key, "created_at": now}
                                                      for key in chunk]))
    return claimed


def plan_rule(rule: CareRule, start: date, end: date, figures: dict[str, int]) -> int:
    """Make the tasks of one rule due in [start, end]; how many were made. Counts what it skipped in figures."""
    found = occasions(rule, start, end, figures)
    known = _known(rule, found)
    fresh = [occasion for occasion in found if occasion.occurrence not in known]
    figures["skipped_existing"] += len(found) - len(fresh)
    customers = _rows(select(Customer.id, Customer.owner_id, *[getattr(Customer, n) for n in CUSTOMER_FIELDS]),
                      [occasion.customer_id for occasion in fresh])
    wanted = []
    for occasion in fresh:
        customer = customers.get(occasion.customer_id)
        if customer is None or customer.status == CustomerStatus.LOST.value:
            figures["skipped_churned"] += 1
        elif customer.owner_id is None:
            figures["skipped_no_owner"] += 1
        else:
            wanted.append(occasion)
    firsts = _first_contacts([o.customer_id for o in wanted if o.contact_id is None])
    for occasion in wanted:
        occasion.contact_id = occasion.contact_id or firsts.get(occasion.customer_id)
    contacts = _rows(select(Contact.id, *[getattr(Contact, n) for n in CONTACT_FIELDS]),
                     [o.contact_id for o in wanted if o.contact_id is not None])
    if rule.condition and wanted:
        subjects = [(_as_dict(customers[o.customer_id], CUSTOMER_FIELDS),
                     _as_dict(contacts[o.contact_id], CONTACT_FIELDS) if o.contact_id in contacts else None)
                    for o in wanted]
        matches = evaluate(rule.condition, subjects, deadline=time.monotonic() + RULE_BUDGET_SECONDS)
        figures["skipped_condition"] += matches.count(False)
        wanted = [occasion for occasion, match in zip(wanted, matches, strict=True) if match]
    claimed = _insert_new_occurrences(rule, [occasion.occurrence for occasion in wanted])
    wanted = [occasion for occasion in wanted if occasion.occurrence in claimed]
    if not wanted:
        return 0
    now = utcnow()
    rows = [{"customer_id": o.customer_id, "contact_id": o.contact_id, "kind": rule.kind, "due_date": o.due,
             "assignee_id": customers[o.customer_id].owner_id, "rule_id": rule.id, "created_at": now,
             "updated_at": now,
             "title": render(rule.message, {
                 "customer": customers[o.customer_id].short_name or customers[o.customer_id].name,
                 "contact": contacts[o.contact_id].name if o.contact_id in contacts else "",
                 "date": f"{o.anchor.month}月{o.anchor.day}日", "rule": rule.name, **o.words})}
            for o in wanted]
    task_ids = []
    for chunk in _chunks(rows):
        task_ids += list(db.session.scalars(
            insert(CareTask).returning(CareTask.id, sort_by_parameter_order=True), chunk))
    db.session.connection().execute(
        update(CareOccurrence).where(CareOccurrence.rule_id == rule.id,
                                               CareOccurrence.occurrence == bindparam("key"))
        .values(care_task_id=bindparam("task_id")),
        [{"key": o.occurrence, "task_id": task_id} for o, task_id in zip(wanted, task_ids, strict=True)])
    return len(task_ids)


def plan(context: HandlerContext, *, catch_up_days: int = 7) -> dict[str, Any]:
    """`care.scan`: make every active rule's tasks due from `catch_up_days` ago to its lead days ahead."""
    if isinstance(catch_up_days, bool) or not isinstance(catch_up_days, int) or not 0 <= catch_up_days <= 60:
        raise ValueError(f"catch_up_days must be a whole number from 0 to 60, not {catch_up_days!r}")
    today = local_today()
    figures: dict[str, Any] = {name: 0 for name in FIGURES}
    made: dict[str, int] = {}
    failed: dict[str, str] = {}
    for rule in db.session.scalars(select(CareRule).where(CareRule.active.is_(True)).order_by(CareRule.id)):
        born = rule.created_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(_zone()).date()
        start = max(today - timedelta(days=catch_up_days), born)
        end = today + timedelta(days=rule.lead_days)
        figures["rules"] += 1
        try:
            with db.session.begin_nested():
                count = plan_rule(rule, start, end, figures)
        except (ConditionFailed, sandbox.SandboxTimeout) as exc:  # one bad rule does not stop the others
            failed[rule.name] = str(exc)[:300]
            continue
        if count:
            made[rule.name] = count
        figures["created"] += count
    figures["by_rule"] = made
    if failed:
        figures["failed_rules"] = failed
    if figures["created"] or _waiting_for_process():
        jobs.enqueue(JOB_START, {})
    return figures


def _waiting_for_process() -> bool:
    return db.session.scalar(select(CareTask.id).where(
        CareTask.process_instance_id.is_(None), CareTask.done_at.is_(None)).limit(1)) is not None


def start_processes(payload: dict[str, Any]) -> None:
    """Job: put up to BATCH open care tasks without a process into their inboxes; queue the next batch."""
    query = (select(CareTask).where(CareTask.process_instance_id.is_(None), CareTask.done_at.is_(None))
             .order_by(CareTask.due_date, CareTask.id).limit(BATCH).with_for_update(skip_locked=True, of=CareTask))
    tasks = list(db.session.scalars(query))
    for task in tasks:
        care.start_process(task, user=None)
    if len(tasks) == BATCH:
        jobs.enqueue(JOB_START, {})


__all__ = ["DEFAULT_RULES", "FIGURES", "JOB_START", "MANAGE", "ConditionFailed", "Occasion", "condition_problem",
           "create_rule", "delete_rule", "evaluate", "get_rule", "list_rules", "occasions", "plan",
           "plan_rule", "render", "sample_subject", "seed_rules", "set_active", "start_processes", "update_rule"]
