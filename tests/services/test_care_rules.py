"""Care rules (关怀规则) run by the daily timer: each kind on known dates (a lunar festival in two years), never
twice, churned customers skipped, tasks in the account manager's inbox and only in scope; rules as data with
bounded conditions — SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    CareRule,
    CareTask,
    Contact,
    Customer,
    HumanTask,
    Order,
    ProcessSchedule,
    ScheduleRun,
    ServiceRequest,
    TaskStatus,
)
from bpm_crm.services import care, care_dates, care_rules, human_tasks, inbox, jobs, schedules


def run_on(day: date) -> ScheduleRun:
    """The daily care run at 06:00 in Shanghai on `day`, and the jobs it leaves."""
    clock.freeze(datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC) - timedelta(hours=8))
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "care_scan"))
    schedule.next_run_at = clock.utcnow_naive()
    db.session.commit()
    assert schedules.run_schedule(schedule_id=schedule.id) is not None
    jobs.run_due_jobs()
    db.session.expire_all()
    return db.session.scalar(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)
                             .order_by(ScheduleRun.id.desc()).limit(1))


def rule(name: str, **values) -> CareRule:
    row = CareRule(name=name, kind=values.pop("kind", "自定义"), trigger=values.pop("trigger", "annual"),
                   calendar=values.pop("calendar", "solar"), offset_days=values.pop("offset_days", 0),
                   lead_days=values.pop("lead_days", 0), message=values.pop("message", name),
                   created_at=datetime(2020, 1, 1), **values)
    db.session.add(row)
    db.session.commit()
    return row


def customer(users, name: str, owner: str | None = "manager1", **values) -> Customer:
    row = Customer(name=name, owner_id=users[owner].id if owner else None, **values)
    db.session.add(row)
    db.session.flush()
    row.number = f"KH{row.id:06d}"
    db.session.commit()
    return row


def contact(of: Customer, name: str, **values) -> Contact:
    row = Contact(customer_id=of.id, name=name, gender="男", position="经理", office_phone="0571-88886666", **values)
    db.session.add(row)
    db.session.commit()
    return row


def tasks_of(rule_row: CareRule) -> list[CareTask]:
    return list(db.session.scalars(select(CareTask).where(CareTask.rule_id == rule_row.id).order_by(CareTask.id)))


def inbox_task(task: CareTask) -> HumanTask | None:
    return care.open_task(task)


def test_the_lunar_festival_falls_on_its_day_in_two_years(users):
    assert care_dates.occurrences("lunar", 1, 1, date(2026, 1, 1), date(2027, 12, 31)) == [
        date(2026, 2, 17), date(2027, 2, 6)]
    assert care_dates.occurrences("lunar", 8, 15, date(2026, 1, 1), date(2027, 12, 31)) == [
        date(2026, 9, 25), date(2027, 9, 15)]
    assert care_dates.occurrences("lunar", 5, 5, date(2027, 1, 1), date(2027, 12, 31)) == [date(2027, 6, 9)]
    spring = rule("春节问候", trigger="annual", calendar="lunar", month=1, day=1, offset_days=-2, lead_days=5,
                  kind="节日", message="春节问候：{customer}（{date}）")
    vip = customer(users, "杭州云启科技有限公司", level="VIP", short_name="云启")
    contact(vip, "钱伟")
    run_on(date(2026, 2, 10))  # the task is due two days before 17 February, made five days before that
    assert [t.due_date for t in tasks_of(spring)] == [date(2026, 2, 15)]
    assert tasks_of(spring)[0].title == "春节问候：云启（2月17日）" and tasks_of(spring)[0].contact.name == "钱伟"
    run_on(date(2027, 1, 30))  # in 2027 the festival is on 6 February
    assert [t.due_date for t in tasks_of(spring)] == [date(2026, 2, 15), date(2027, 2, 4)]
    assert all(t.kind == "节日" and t.assignee_id == users["manager1"].id for t in tasks_of(spring))


def test_birthdays_solar_and_lunar_orders_and_closed_service_requests(users):
    birthday = rule("生日", trigger="birthday", lead_days=3, kind="生日", message="{contact}生日（{date}）")
    after_order = rule("订单回访", trigger="order", offset_days=7, kind="售后回访", message="订单 {order} 回访")
    after_service = rule("服务回访", trigger="service", offset_days=3, kind="售后回访", message="{service} 回访")
    firm = customer(users, "苏州恒达机械制造厂")
    solar = contact(firm, "孙厂长", birthday=date(1975, 11, 28))
    lunar = contact(firm, "周会计", birthday=date(1980, 1, 1), lunar_birthday="10-20")  # 2026: 28 November
    contact(firm, "吴主任", birthday=date(1980, 12, 25))  # not this week
    order = Order(number="DD20261118", customer_id=firm.id, order_date=date(2026, 11, 18), status=5)
    request = ServiceRequest(number="FW000009", type="投诉", summary="设备故障", customer_id=firm.id, detail="停机",
                             status="已归档", archived_at=datetime(2026, 11, 22, 3, 0))
    db.session.add_all([order, request])
    db.session.commit()

    first = run_on(date(2026, 11, 25))
    made = {(t.title, t.due_date) for t in db.session.scalars(select(CareTask))}
    assert made == {("孙厂长生日（11月28日）", date(2026, 11, 28)), ("周会计生日（11月28日）", date(2026, 11, 28)),
                    ("订单 DD20261118 回访", date(2026, 11, 25)), ("FW000009 回访", date(2026, 11, 25))}
    assert {t.contact_id for t in tasks_of(birthday)} == {solar.id, lunar.id}
    assert len(tasks_of(after_order)) == 1 and len(tasks_of(after_service)) == 1
    assert first.figures["created"] == 4 and first.figures["by_rule"]["生日"] == 2

    # In the account manager's inbox, due at the end of its day; his colleagues do not see them.
    task = tasks_of(after_order)[0]
    row = inbox_task(task)
    assert row.assignee_id == users["manager1"].id and row.due_at == datetime(2026, 11, 25, 15, 59, 59)
    assert row.id in {t.id for t in inbox.list_tasks(user=users["manager1"], view="mine").items}
    assert row.id not in {t.id for t in inbox.list_tasks(user=users["manager2"], view="todo").items}
    with pytest.raises(NotFound):
        human_tasks.get_task(task_id=row.id, user=users["manager2"])
    assert human_tasks.get_task(task_id=row.id, user=users["supervisor1"]).id == row.id  # his team
    with pytest.raises(NotFound):
        care.get_care_task(care_task_id=task.id, user=users["manager2"])

    # Done in the inbox: the care list shows it done; done in the list: the inbox task is closed.
    human_tasks.complete_task(task_id=row.id, user=users["manager1"], data={"note": "已电话回访，客户满意"})
    db.session.expire_all()
    done = db.session.get(CareTask, task.id)
    assert done.done_by_id == users["manager1"].id and done.note == "已电话回访，客户满意"
    other = tasks_of(after_service)[0]
    care.mark_done(care_task_id=other.id, user=users["manager1"], note="上门查看")
    assert db.session.get(HumanTask, inbox_task(other).id if inbox_task(other) else row.id).status != "open"
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == TaskStatus.OPEN, HumanTask.bpmn_id == "give_care")) == 2  # the two birthdays

    # The next days: nothing twice, even for a task that was deleted.
    care.delete_care_task(care_task_id=tasks_of(birthday)[0].id, user=users["manager1"])
    again = run_on(date(2026, 11, 26))
    assert again.figures["created"] == 0 and again.figures["skipped_existing"] >= 3
    assert db.session.scalar(select(func.count()).select_from(CareTask)) == 3


def test_churned_customers_and_the_public_pool_are_skipped(users):
    birthday = rule("生日", trigger="birthday", lead_days=3, kind="生日", message="{contact}生日")
    kept = customer(users, "正常客户")
    lost = customer(users, "已流失客户", status="已流失")
    pool = customer(users, "公海客户", None)
    for row in (kept, lost, pool):
        contact(row, f"{row.name}联系人", birthday=date(1980, 11, 27))
    run = run_on(date(2026, 11, 25))
    assert [t.customer_id for t in tasks_of(birthday)] == [kept.id]
    assert run.figures["skipped_churned"] == 1 and run.figures["skipped_no_owner"] == 1


def test_a_rule_the_process_owner_adds_with_a_condition(users):
    with pytest.raises(Forbidden):
        care_rules.create_rule(user=users["manager1"], values={"name": "x"})
    values = {"name": "VIP客户建档周年", "kind": "自定义", "trigger": "annual", "calendar": "solar", "month": "12",
              "day": "1", "offset_days": "0", "lead_days": "2", "condition": 'customer["level"] == "VIP"',
              "message": "年度回访：{customer}"}
    made = care_rules.create_rule(user=users["owner"], values=values)
    vip = customer(users, "VIP客户", level="VIP")
    customer(users, "普通客户", level="普通")
    made.created_at = datetime(2026, 1, 1)
    db.session.commit()
    run = run_on(date(2026, 11, 29))
    assert [(t.customer_id, t.title, t.due_date) for t in tasks_of(made)] == [
        (vip.id, "年度回访：VIP客户", date(2026, 12, 1))]
    assert run.figures["skipped_condition"] == 1

    # A rule added today makes nothing for occasions before it existed.
    late = care_rules.create_rule(user=users["owner"], values={**values, "name": "迟到的规则", "month": "11",
                                                                "day": "25", "condition": ""})
    run_on(date(2026, 11, 30))
    assert tasks_of(late) == []

    # Paused, it makes nothing; it cannot be deleted once it made tasks.
    care_rules.set_active(rule_id=made.id, user=users["owner"], active=False)
    with pytest.raises(Conflict):
        care_rules.delete_rule(rule_id=made.id, user=users["owner"])
    care_rules.delete_rule(rule_id=late.id, user=users["owner"])


@pytest.mark.parametrize(("changes", "field"), [
    ({"condition": "__import__('os').system('true')"}, "condition"),
    ({"condition": "customer.__class__"}, "condition"),
    ({"condition": "customer['level'] =="}, "condition"),
    ({"condition": "len([x for x in range(1000000) for y in range(1000000)]) > 0"}, "condition"),
    ({"condition": "customer['no_such_field'] == 1"}, "condition"),
    ({"message": "你好 {customer.__class__}"}, "message"),
    ({"message": "你好 {password}"}, "message"),
    ({"month": "2", "day": "30"}, "day"),
    ({"calendar": "lunar", "month": "1", "day": "31"}, "day"),
    ({"trigger": "weekly"}, "trigger"),
    ({"lead_days": "400"}, "lead_days"),
    ({"name": ""}, "name"),
])
def test_bad_rules_are_refused_and_change_nothing(users, changes, field):
    values = {"name": "规则", "kind": "节日", "trigger": "annual", "calendar": "solar", "month": "6", "day": "1",
              "offset_days": "0", "lead_days": "3", "condition": "", "message": "问候 {customer}", **changes}
    before = db.session.scalar(select(func.count()).select_from(CareRule))
    with pytest.raises(Invalid) as refused:
        care_rules.create_rule(user=users["owner"], values=values)
    assert field in refused.value.field_errors
    assert db.session.scalar(select(func.count()).select_from(CareRule)) == before


def test_a_rule_that_fails_on_the_data_does_not_stop_the_others(users):
    good = rule("好规则", trigger="birthday", lead_days=1, kind="生日", message="{contact}生日")
    bad = rule("坏规则", trigger="birthday", lead_days=1, kind="生日", message="x",
               condition='contact["birthday"] > 1')  # a date is text: comparing it with a number fails
    firm = customer(users, "某公司")
    contact(firm, "李四", birthday=date(1990, 11, 26))
    run = run_on(date(2026, 11, 25))
    assert len(tasks_of(good)) == 1 and tasks_of(bad) == []
    assert "坏规则" in run.figures["failed_rules"] and run.error is None


def test_the_default_rules_are_seeded_once(users):
    assert care_rules.seed_rules() == len(care_rules.DEFAULT_RULES)
    assert care_rules.seed_rules() == 0
    names = {r.name for r in care_rules.list_rules(user=users["owner"])}
    assert {"联系人生日", "春节问候", "端午节问候", "中秋节问候", "元旦问候", "国庆节问候", "订单回访"} <= names
    with pytest.raises(Forbidden):
        care_rules.list_rules(user=users["manager1"])


@pytest.mark.parametrize(("condition", "narrowed"), [
    ('customer["level"] in ("重点", "VIP")', 1),
    ('customer["level"] == "VIP" and customer["satisfaction"] > 3', 1),  # the rest in the sandbox
    ('customer["level"] in ["VIP"] and customer["region"] == "浙江省/杭州市" and customer["credit"] == 5', 3),
    ('customer["satisfaction"] > 3 and customer["level"] == "VIP"', 0),  # fails on a customer without one
    ('customer["credit"] in (5, True)', 0),  # True == 1 in Python
    ('customer["credit"] == "5"', 1),  # never true: a number is not text
    ('customer["level"] != "普通"', 0),
    ('contact is not None and customer["level"] == "VIP"', 0),
])
def test_an_annual_condition_narrowed_in_sql_gives_what_the_sandbox_gives(users, monkeypatch, condition, narrowed):
    from bpm_crm.services import care_conditions

    for name, values in (("甲", {"level": "VIP", "satisfaction": 5, "credit": 5, "region": "浙江省/杭州市"}),
                         ("乙", {"level": "VIP", "satisfaction": 2, "credit": 4, "region": "浙江省/杭州市"}),
                         ("丙", {"level": "重点", "satisfaction": 5, "credit": 5, "region": "四川省/成都市"}),
                         ("丁", {"level": "普通", "satisfaction": None, "credit": None}),
                         ("戊", {"level": "VIP", "satisfaction": 5, "credit": 5, "status": "已流失"}),
                         ("己", {"level": "VIP", "satisfaction": 5, "credit": 5})):
        customer(users, f"{name}公司", None if name == "己" else "manager1", **values)
    assert len(care_conditions.customer_clauses(condition)) == narrowed
    day = date(2026, 6, 1)
    clock.freeze(datetime(2026, 5, 31, 22, 0, tzinfo=UTC))

    def outcome(name: str) -> tuple[list[int], dict[str, int]] | str:
        row = rule(name, month=6, day=1, condition=condition)
        figures = {key: 0 for key in care_rules.FIGURES}
        try:
            with db.session.begin_nested():
                care_rules.plan_rule(row, day, day, figures)
        except care_rules.ConditionFailed:
            return "failed"
        return [task.customer_id for task in tasks_of(row)], figures

    narrowed_in_sql = outcome("SQL 预筛")
    monkeypatch.setattr(care_conditions, "customer_clauses", lambda condition: [])
    assert narrowed_in_sql == outcome("只用沙箱")
