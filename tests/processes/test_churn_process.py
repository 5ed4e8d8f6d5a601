"""客户流失处理 on its diagrams: the weekly scan over a fixed data set, one process per warning, measures,
the confirmation, closing on a new order, escalation after the configured time, settings a process owner
changes, and a missed week run once — SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    ChurnWarning,
    Customer,
    HumanTask,
    InstanceStatus,
    Order,
    ProcessDefinition,
    ProcessEvent,
    ProcessInstance,
    ProcessSchedule,
    ScheduleRun,
)
from bpm_crm.services import (
    churn,
    churn_scan,
    human_tasks,
    inbox,
    jobs,
    order_import,
    process_settings,
    sales,
    schedule_board,
    schedules,
    timers,
)
from bpm_crm.tasks import scheduler

# Saturday 5 December 2026, 02:00 in Shanghai: the scan's due time. Six months before is 5 June.
SATURDAY = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
TODAY = date(2026, 12, 5)


def customer(users, name: str, owner: str | None = "manager1", *, last_order: date | None = None,
             created: date = date(2025, 1, 1), status: str = "正常") -> Customer:
    row = Customer(name=name, owner_id=users[owner].id if owner else None, status=status,
                   created_at=datetime.combine(created, datetime.min.time()))
    db.session.add(row)
    db.session.flush()
    row.number = f"KH{row.id:06d}"
    if last_order is not None:
        db.session.add_all([
            Order(number=f"DD{row.id}A", customer_id=row.id, order_date=last_order - timedelta(days=90), status=6),
            Order(number=f"DD{row.id}B", customer_id=row.id, order_date=last_order, status=6),
        ])
    db.session.commit()
    return row


@pytest.fixture
def data_set(users):
    """Customers on both sides of the six months, and those the scan must leave alone."""
    made = {
        "seven_months": customer(users, "七个月未下单", last_order=date(2026, 5, 5)),
        "five_months": customer(users, "五个月前下单", last_order=date(2026, 7, 5)),
        "on_the_cutoff": customer(users, "正好六个月", last_order=date(2026, 6, 5)),
        "a_day_past": customer(users, "六个月零一天", "manager2", last_order=date(2026, 6, 4)),
        "never_ordered": customer(users, "从未下单的老客户"),
        "too_new": customer(users, "新客户", created=date(2026, 11, 1)),
        "lost": customer(users, "已流失客户", last_order=date(2025, 1, 5), status="已流失"),
        "pool": customer(users, "公海客户", None, last_order=date(2025, 1, 5)),
        "already_warned": customer(users, "已有预警", last_order=date(2026, 3, 1)),
    }
    clock.freeze(SATURDAY - timedelta(days=30))
    churn.create_warning(user=users["manager1"], values={"customer_id": made["already_warned"].id})
    return made


def due_now(process_id: str = "churn_scan") -> ProcessSchedule:
    """Move the schedule's due time to now (the clock stands at its due time)."""
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == process_id))
    schedule.next_run_at = clock.utcnow_naive()
    db.session.commit()
    return schedule


def run_scan() -> ScheduleRun:
    schedule = due_now()
    assert schedules.run_schedule(schedule_id=schedule.id) is not None
    jobs.run_due_jobs()
    db.session.expire_all()
    return db.session.scalar(select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)
                             .order_by(ScheduleRun.id.desc()).limit(1))


def warned_names() -> set[str]:
    return set(db.session.scalars(select(Customer.name).join(ChurnWarning, ChurnWarning.customer_id == Customer.id)
                                  .where(ChurnWarning.status.in_(churn.OPEN_STATUSES))))


def open_step(warning: ChurnWarning) -> HumanTask | None:
    db.session.expire_all()
    return churn.open_task(db.session.get(ChurnWarning, warning.id))


def warning_of(row: Customer) -> ChurnWarning:
    return db.session.scalar(select(ChurnWarning).where(ChurnWarning.customer_id == row.id)
                             .order_by(ChurnWarning.id.desc()).limit(1))


def test_the_schedule_is_saturday_two_in_the_morning_in_shanghai(app):
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))
    assert schedule.rule == "0 2 * * 6 Asia/Shanghai" and schedule.active
    assert schedules.next_due(schedule.rule, after=datetime(2026, 12, 1, tzinfo=UTC)) == datetime(
        2026, 12, 5, 2, 0, tzinfo=schedules._zone("Asia/Shanghai"))


def test_the_scan_warns_exactly_the_inactive_customers_once(users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run = run_scan()
    assert warned_names() == {"七个月未下单", "六个月零一天", "从未下单的老客户", "已有预警"}
    assert run.figures["raised"] == 3 and run.figures["skipped_open"] == 1
    assert run.figures["checked"] == db.session.scalar(select(func.count()).select_from(Customer).where(
        Customer.status == "正常", Customer.owner_id.is_not(None)))
    assert run.figures["cutoff"] == "2026-06-05" and run.instance_id is not None
    scan = db.session.get(ProcessInstance, run.instance_id)
    assert scan.status == InstanceStatus.COMPLETED and scan.process_id == "churn_scan"

    # Each warning got its process: the account manager's task, due when it would escalate.
    seven = warning_of(data_set["seven_months"])
    assert seven.last_order_date == date(2026, 5, 5) and seven.manager_id == users["manager1"].id
    step = open_step(seven)
    assert step.bpmn_id == "handle" and step.assignee_id == users["manager1"].id and step.due_at is not None
    assert step.id in {t.id for t in inbox.list_tasks(user=users["manager1"], view="mine").items}
    other = open_step(warning_of(data_set["a_day_past"]))
    assert other.assignee_id == users["manager2"].id
    assert other.id not in {t.id for t in inbox.list_tasks(user=users["manager1"], view="mine").items}
    assert warning_of(data_set["never_ordered"]).last_order_date is None

    # A week later the four are skipped (their warnings are open); the customer whose last order was on the
    # cutoff has now gone six months without one.
    clock.freeze(SATURDAY + timedelta(days=7, seconds=30))
    again = run_scan()
    assert again.figures["raised"] == 1 and again.figures["skipped_open"] == 4
    assert warned_names() == {"七个月未下单", "六个月零一天", "从未下单的老客户", "已有预警", "正好六个月"}
    # And again the same day (a retry, a second scheduler): nothing more.
    churn_scan.scan(context=type("Context", (), {"instance": scan})(), months=6)
    jobs.run_due_jobs()
    assert db.session.scalar(select(func.count()).select_from(ChurnWarning)) == 5
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "churn")) == 5


def test_a_new_order_closes_the_warning_through_its_process(users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run_scan()
    warning = warning_of(data_set["seven_months"])
    assert churn.open_task(warning) is not None
    clock.freeze(SATURDAY + timedelta(days=2))
    db.session.add(Order(number="DD-NEW", customer_id=data_set["seven_months"].id, order_date=date(2026, 12, 7),
                         status=1))
    assert churn_scan.orders_placed(customer_ids={data_set["seven_months"].id, data_set["five_months"].id}) == 1
    db.session.commit()
    db.session.expire_all()
    closed = db.session.get(ChurnWarning, warning.id)
    assert closed.status == "已恢复" and closed.closed_at is not None
    instance = db.session.get(ProcessInstance, closed.process_instance_id)
    assert instance.status == InstanceStatus.COMPLETED
    assert churn.open_task(closed) is None

    # An order the sales system recorded without telling anyone is found by the next scan.
    other = warning_of(data_set["a_day_past"])
    db.session.add(Order(number="DD-QUIET", customer_id=data_set["a_day_past"].id, order_date=date(2026, 12, 8),
                         status=5))
    db.session.commit()
    clock.freeze(SATURDAY + timedelta(days=7, seconds=30))
    run = run_scan()
    assert db.session.get(ChurnWarning, other.id).status == "已恢复"
    assert run.figures["closed_by_order"] == 2 and run.figures["raised"] == 1  # 正好六个月, a week on


def test_measures_then_confirmation_through_the_inbox(users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run_scan()
    warning = warning_of(data_set["seven_months"])
    manager = users["manager1"]
    with pytest.raises(Conflict):  # no measure yet
        churn.confirm(warning_id=warning.id, user=manager, reason="转向竞争对手")
    with pytest.raises(Invalid):
        human_tasks.complete_task(task_id=open_step(warning).id, user=manager, data={"measure": " "})
    human_tasks.complete_task(task_id=open_step(warning).id, user=manager, data={"measure": "上门拜访，了解原因"})
    follow = open_step(warning)
    assert follow.bpmn_id == "follow_up" and follow.input_data.get("measure") is None
    assert db.session.get(ChurnWarning, warning.id).status == "暂缓流失"
    # A supervisor in scope may add a measure from the warning's page; the manager keeps the task.
    churn.add_measure(warning_id=warning.id, user=users["supervisor1"], content="给予九折优惠")
    with pytest.raises(NotFound):  # another department's supervisor does not even see it
        churn.add_measure(warning_id=warning.id, user=users["supervisor2"], content="x")
    assert open_step(warning).assignee_id == manager.id
    with pytest.raises(Invalid):  # confirming needs the reason and the acknowledgement
        human_tasks.complete_task(task_id=open_step(warning).id, user=manager,
                                  data={"decision": "confirm", "reason": "已转向竞争对手"})
    human_tasks.complete_task(task_id=open_step(warning).id, user=manager,
                              data={"decision": "confirm", "reason": "已转向竞争对手", "acknowledge": True})
    db.session.expire_all()
    done = db.session.get(ChurnWarning, warning.id)
    assert done.status == "确认流失" and done.reason == "已转向竞争对手"
    assert [(m.content, m.author.username) for m in done.measures] == [
        ("上门拜访，了解原因", "manager1"), ("给予九折优惠", "supervisor1")]
    assert db.session.get(Customer, data_set["seven_months"].id).status == "已流失"
    assert db.session.get(ProcessInstance, done.process_instance_id).status == InstanceStatus.COMPLETED


def test_an_unattended_warning_escalates_to_the_supervisor_after_the_configured_time(users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run_scan()
    warning = warning_of(data_set["seven_months"])
    step = open_step(warning)
    # Three working days after Saturday 02:00 is Wednesday 9 December, 02:00 in Shanghai.
    assert step.due_at == datetime(2026, 12, 8, 18, 0, 30)
    clock.freeze(datetime(2026, 12, 8, 17, 59, tzinfo=UTC))
    timers.fire_due_timers()
    assert open_step(warning).bpmn_id == "handle"
    clock.freeze(datetime(2026, 12, 8, 18, 1, tzinfo=UTC))
    assert timers.fire_due_timers() >= 1
    escalated = open_step(warning)
    assert escalated.bpmn_id == "handle_escalated" and escalated.assignee_id == users["supervisor1"].id
    assert users["manager1"].id in {w.user_id for w in escalated.watchers}
    human_tasks.complete_task(task_id=escalated.id, user=users["supervisor1"], data={"measure": "主管亲自拜访"})
    assert open_step(warning).bpmn_id == "follow_up" and open_step(warning).assignee_id == users["manager1"].id

    # The process owner makes it five working days: warnings raised from then on wait longer.
    definition = process_settings.change(process_id="churn", values={"churn_escalate_workdays": 5},
                                         user=users["owner"])
    assert definition.version == 2 and "workdays_after(now(), 5)" in definition.bpmn_xml
    assert dict((s.key, v) for s, v in process_settings.current("churn"))["churn_escalate_workdays"] == 5
    later = churn.create_warning(user=users["manager1"], values={"customer_id": data_set["five_months"].id})
    assert open_step(later).due_at == datetime(2026, 12, 15, 18, 1)  # Wednesday 9th 02:01 + 5 working days
    assert db.session.get(ProcessInstance, warning.process_instance_id).definition_id != definition.id


def test_the_period_is_a_setting_the_process_owner_changes(users, data_set):
    with pytest.raises(Forbidden):
        process_settings.change(process_id="churn_scan", values={"churn_months": 5}, user=users["manager1"])
    with pytest.raises(Invalid) as refused:
        process_settings.change(process_id="churn_scan", values={"churn_months": 0}, user=users["owner"])
    assert "churn_months" in refused.value.field_errors
    assert db.session.scalar(select(func.max(ProcessDefinition.version)).where(
        ProcessDefinition.process_id == "churn_scan")) == 1
    process_settings.change(process_id="churn_scan", values={"churn_months": 5}, user=users["owner"])
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run = run_scan()
    assert run.figures["months"] == 5 and run.figures["cutoff"] == "2026-07-05"
    assert "正好六个月" in warned_names() and "五个月前下单" not in warned_names()  # 7-5 is on the new cutoff


def test_the_rule_changes_and_a_missed_week_runs_once(users, data_set):
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "churn_scan"))
    clock.freeze(datetime(2026, 12, 1, tzinfo=UTC))
    plan = schedule_board.RulePlan("weekly", hour=3, minute=30, weekday=0)
    schedule_board.change_rule(schedule_id=schedule.id, plan=plan, user=users["owner"])
    db.session.expire_all()
    schedule = db.session.get(ProcessSchedule, schedule.id)
    assert schedule.rule == "30 3 * * 0 Asia/Shanghai"
    assert schedule.next_run_at == datetime(2026, 12, 5, 19, 30)  # Sunday 03:30 in Shanghai
    clock.freeze(datetime(2027, 1, 5, tzinfo=UTC))  # four Sundays missed while the server was down
    assert schedules.run_schedule(schedule_id=schedule.id) is not None
    assert schedules.run_schedule(schedule_id=schedule.id) is None
    db.session.expire_all()
    assert db.session.get(ProcessSchedule, schedule.id).next_run_at == datetime(2027, 1, 9, 19, 30)
    assert db.session.scalar(select(func.count()).select_from(ScheduleRun).where(
        ScheduleRun.schedule_id == schedule.id)) == 1
    with pytest.raises(Invalid):
        schedule_board.change_rule(schedule_id=schedule.id, plan=schedule_board.RulePlan("custom", text="61 2 * * 6"),
                                   user=users["owner"])


def test_closed_by_order_counts_each_closure_once_and_no_manual_recovery(users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run_scan()
    seven, quiet = warning_of(data_set["seven_months"]), warning_of(data_set["a_day_past"])
    never = warning_of(data_set["never_ordered"])
    # During the week: an order reaches the CRM and closes one warning; another customer orders without telling
    # anyone; the account manager closes a third by hand (he knows of an order the CRM does not).
    clock.freeze(SATURDAY + timedelta(days=2))
    db.session.add_all([
        Order(number="DD-TOLD", customer_id=data_set["seven_months"].id, order_date=date(2026, 12, 7), status=1),
        Order(number="DD-QUIET", customer_id=data_set["a_day_past"].id, order_date=date(2026, 12, 7), status=1)])
    db.session.flush()
    assert churn_scan.orders_placed(customer_ids={data_set["seven_months"].id}) == 1
    db.session.commit()
    churn.recover(warning_id=never.id, user=users["manager1"])
    db.session.expire_all()
    assert [db.session.get(ChurnWarning, w.id).closed_by for w in (seven, quiet, never)] == ["order", None, "manual"]

    clock.freeze(SATURDAY + timedelta(days=7, seconds=30))
    second = run_scan()  # the order told, and the quiet one the scan finds; not the manual recovery
    assert second.figures["closed_by_order"] == 2
    assert db.session.get(ChurnWarning, quiet.id).status == "已恢复"
    assert db.session.get(ChurnWarning, quiet.id).closed_by == "scan"
    # The quiet one was closed after the second run started (by its job): the third run counts neither again.
    clock.freeze(SATURDAY + timedelta(days=14, seconds=30))
    assert run_scan().figures["closed_by_order"] == 0


def test_a_manager_without_superior_escalates_to_his_head_else_to_the_sales_directors(users, data_set):
    from bpm_crm.models import Department
    from bpm_crm.services import people

    sales_one = db.session.scalar(select(Department).where(Department.name == "销售一部"))
    db.session.add(Department(name="销售三部", parent_id=sales_one.parent_id))
    db.session.commit()
    alone = {name: people.create_user(username=name, password="demo12345", full_name=name, roles=["account_manager"],
                                      department=department)
             for name, department in (("manager8", "销售一部"), ("manager9", "销售三部"))}
    for name, manager in alone.items():
        row = customer(users, f"{name} 的老客户", last_order=date(2026, 3, 1))
        row.owner_id = manager.id
    db.session.commit()
    clock.freeze(SATURDAY + timedelta(seconds=30))
    run_scan()
    clock.freeze(datetime(2026, 12, 8, 18, 1, tzinfo=UTC))  # three working days on: every warning escalates
    timers.fire_due_timers()

    def escalated(manager) -> HumanTask:
        warning = db.session.scalar(select(ChurnWarning).where(ChurnWarning.manager_id == manager.id))
        step = open_step(warning)
        assert step.bpmn_id == "handle_escalated"
        return step

    # No superior, but his department has a head: the head gets it.
    assert escalated(alone["manager8"]).assignee_id == users["supervisor1"].id
    # Neither: it is offered to the sales directors, and the account manager watches.
    offered = escalated(alone["manager9"])
    assert offered.assignee_id is None
    assert {(c.kind, c.value) for c in offered.candidates} == {("role", "sales_director")}
    assert alone["manager9"].id in {w.user_id for w in offered.watchers}
    assert offered.id in {t.id for t in inbox.list_tasks(user=users["director"], view="claimable").items}
    assert offered.id not in {t.id for t in inbox.list_tasks(user=users["supervisor1"], view="claimable").items}
    # A manager with a superior keeps escalating to him.
    assert open_step(warning_of(data_set["seven_months"])).assignee_id == users["supervisor1"].id


def test_an_order_from_the_import_or_the_sales_system_closes_the_warning_by_itself(app, users, data_set):
    clock.freeze(SATURDAY + timedelta(seconds=30))
    due_now()
    scheduler.run_due_timers(app)  # the in-process loop's pass: the scan, then the jobs starting its processes
    imported, reported = warning_of(data_set["seven_months"]), warning_of(data_set["a_day_past"])
    assert churn.open_task(imported) is not None and churn.open_task(reported) is not None

    clock.freeze(SATURDAY + timedelta(days=2))
    csv = (f"订单号,客户编号,下单日期,状态,产品名称,数量,单价\n"
           f"DD-IMP,{data_set['seven_months'].number},2026-12-06,新建,办公软件,2,100\n").encode()
    job = order_import.upload(user=users["director"], data=csv, filename="orders.csv")
    assert job.ok, [row.errors for row in job.rows]
    order_import.commit(user=users["director"], job_id=job.job_id)
    order = {"number": "DD-ADP", "customer_number": data_set["a_day_past"].number, "order_date": "2026-12-06",
             "status": 1, "lines": [{"product_name": "办公软件", "quantity": 1, "unit_price": "300"}]}
    result = sales.report_orders(user=users["director"], orders=[order])
    assert result.recorded == ["DD-ADP"] and result.warnings_closed == 1
    # The sales system sends the same report again: nothing is recorded twice, nothing more closes.
    again = sales.report_orders(user=users["director"], orders=[order])
    assert again.recorded == [] and again.known == ["DD-ADP"] and again.warnings_closed == 0
    assert scheduler.run_one_pass(app).timers == 0  # their processes ended: no escalation left to fire

    db.session.expire_all()
    for warning in (imported, reported):
        closed = db.session.get(ChurnWarning, warning.id)
        assert (closed.status, closed.closed_by) == ("已恢复", "order")
        assert db.session.get(ProcessInstance, closed.process_instance_id).status == InstanceStatus.COMPLETED
        assert churn.open_task(closed) is None
        assert db.session.scalar(select(func.count()).select_from(ProcessEvent).where(
            ProcessEvent.instance_id == closed.process_instance_id, ProcessEvent.action == "message")) == 1
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.number == "DD-ADP")) == 1
    assert churn.open_task(warning_of(data_set["never_ordered"])) is not None  # the others wait on
