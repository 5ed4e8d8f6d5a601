"""Task SLAs as configuration: a due time in working hours (or a date from data), a reminder before it and an
escalation after it (reassign or watch), fired once each by the scheduler with the clock moved."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.engine.definitions import DefinitionInvalid
from bpm_crm.extensions import db
from bpm_crm.models import Customer, HumanTask, Notification, ProcessEvent, TaskStatus
from bpm_crm.services import definitions, human_tasks, inbox, instances, service_requests, timers

BUNDLES = Path(__file__).resolve().parent / "bundles"
FRIDAY_BEFORE_NATIONAL_DAY = datetime(2025, 9, 26, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def open_step(instance_id, bpmn_id):
    db.session.expire_all()
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                     HumanTask.bpmn_id == bpmn_id, HumanTask.status == TaskStatus.OPEN))


def notices(user):
    db.session.expire_all()
    return [(n.kind, n.task_id) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))]


@pytest.fixture
def review(users):
    definitions.deploy(xml=(BUNDLES / "sla_review.bpmn").read_text(), file_name="sla_review.bpmn")
    clock.freeze(FRIDAY_BEFORE_NATIONAL_DAY)
    instance = instances.start_instance(
        process_id="sla_review", business_type=None, business_id=None, owner_id=users["manager1"].id,
        title="时效复核", data={"reviewer_id": users["manager1"].id, "deadline": "2025-10-10"},
        user=users["manager1"])
    db.session.commit()
    return instance


def test_sixteen_working_hours_from_the_friday_before_national_day_end_on_the_adjusted_sunday(review, users):
    task = open_step(review.id, "review")
    # 09:00 Friday + 16 working hours = 18:00 on Sunday 28 September (a 调休 working day), not Tuesday.
    assert task.due_at == datetime(2025, 9, 28, 10, 0)
    assert task.remind_at == datetime(2025, 9, 28, 8, 0)  # 2 working hours before: 16:00 Sunday
    assert task.escalate_at == datetime(2025, 9, 29, 2, 0)  # 1 working hour after: 10:00 Monday
    assert task.next_deadline_at == task.remind_at


def test_reminder_and_escalation_fire_once_and_escalation_reassigns_to_the_superior(review, users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    task = open_step(review.id, "review")
    clock.freeze(datetime(2025, 9, 27, 12, 0, tzinfo=UTC))  # the Saturday: nothing is due yet
    assert timers.run_pass().deadlines == 0

    clock.freeze(datetime(2025, 9, 28, 8, 30, tzinfo=UTC))
    assert timers.run_pass().deadlines == 1
    assert timers.run_pass().deadlines == 0  # a second pass (or a second scheduler) sends nothing again
    assert notices(manager) == [("reminder", task.id)]
    assert task.id not in {t.id for t in inbox.list_tasks(user=manager, view="mine", overdue=True).items}

    clock.freeze(datetime(2025, 9, 28, 11, 0, tzinfo=UTC))  # past due, before the escalation
    overdue = inbox.list_tasks(user=manager, view="mine", overdue=True).items
    assert [t.id for t in overdue] == [task.id] and inbox.is_overdue(overdue[0])

    clock.freeze(datetime(2025, 9, 29, 2, 1, tzinfo=UTC))
    assert timers.run_pass().deadlines == 1 and timers.run_pass().deadlines == 0
    db.session.expire_all()
    escalated = db.session.get(HumanTask, task.id)
    assert escalated.assignee_id == supervisor.id and escalated.next_deadline_at is None
    assert notices(supervisor) == [("escalation", task.id)]
    assert notices(manager) == [("reminder", task.id)]
    actions = [e.action for e in instances.history(review.id)]
    assert actions.count("reminded") == 1 and actions.count("escalated") == 1 and "reassigned" in actions
    human_tasks.complete_task(task_id=task.id, user=supervisor, data={})
    # The next step follows the variable the escalation changed; its due date comes from the data.
    following = open_step(review.id, "check_date")
    assert following.assignee_id == supervisor.id and following.due_at == datetime(2025, 10, 9, 16, 0)


def test_escalating_a_complaint_copies_the_superior_of_whoever_holds_it(users):
    clock.freeze(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    customer = Customer(name="升级测试公司", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.flush()
    request = service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "customer_id": customer.id, "summary": "无人受理", "detail": "测试升级"})
    accept = open_step(request.process_instance_id, "accept")
    assert (accept.due_at, accept.remind_at, accept.escalate_at) == (
        datetime(2026, 11, 23, 6, 0), datetime(2026, 11, 23, 5, 0), datetime(2026, 11, 23, 8, 0))
    clock.freeze(datetime(2026, 11, 23, 8, 1, tzinfo=UTC))
    assert timers.run_pass().deadlines == 1 and timers.run_pass().deadlines == 0
    # Offered to the service supervisors: they were reminded; his superior (张总) is now copied on it.
    assert notices(users["service_lead"]) == [("reminder", accept.id)]
    assert notices(users["ceo"]) == [("escalation", accept.id)]
    db.session.expire_all()
    task = db.session.get(HumanTask, accept.id)
    assert task.assignee_id is None and [w.user_id for w in task.watchers] == [users["ceo"].id]
    assert db.session.scalar(select(func.count()).select_from(ProcessEvent).where(
        ProcessEvent.instance_id == request.process_instance_id, ProcessEvent.action == "escalated")) == 1
    assert request.id in {r.id for r in service_requests.list_requests(user=users["agent"], overdue=True).items}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("calendar", "lunar", "calendar must be 'working' or 'natural'"),
    ("escalate_mode", "fire", "escalate_mode must be 'watch' or 'reassign'"),
])
def test_a_wrong_sla_setting_is_refused_when_deployed(app, name, value, message):
    xml = (BUNDLES / "sla_review.bpmn").read_text().replace(
        '<spiffworkflow:property name="escalate_mode" value="reassign"/>',
        f'<spiffworkflow:property name="{name}" value="{value}"/>')
    with pytest.raises(DefinitionInvalid) as refused:
        definitions.deploy(xml=xml, file_name="sla_review.bpmn")
    assert any(message in problem.message for problem in refused.value.problems)


def test_workhours_after_in_a_diagram_counts_the_configured_working_hours_not_the_environment(
        app, users, monkeypatch):
    """One source: BPM_CRM_WORKING_HOURS as the app read it, handed to the diagram code's worker with each run."""
    monkeypatch.setenv("BPM_CRM_WORKING_HOURS", "00:00-24:00")  # read by nothing once the app has started
    app.config["WORKING_HOURS"] = "10:00-12:00"
    xml = (BUNDLES / "sla_review.bpmn").read_text().replace(
        '<spiffworkflow:property name="due" value="&quot;PT16H&quot;"/>',
        '<spiffworkflow:property name="due" value="workhours_after(now(), 3)"/>')
    definitions.deploy(xml=xml, file_name="sla_review.bpmn")
    clock.freeze(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
    instance = instances.start_instance(
        process_id="sla_review", business_type=None, business_id=None, owner_id=users["manager1"].id,
        title="工时", data={"reviewer_id": users["manager1"].id, "deadline": "2026-12-31"}, user=users["manager1"])
    task = open_step(instance.id, "review")
    # Monday 10:00-12:00 is two hours; the third is Tuesday 10:00-11:00.
    assert task.due_at == datetime(2026, 11, 24, 3, 0)
    # The services count the same hours: two working hours before that is Monday 11:00.
    assert task.remind_at == datetime(2026, 11, 23, 3, 0)


def test_a_task_offered_to_a_role_is_held_by_the_holders_whose_claim_scope_covers_its_record(users):
    from bpm_crm.services import opportunities

    opportunity = opportunities.create_opportunity(user=users["manager1"], values={
        "customer_name": "杭州云启科技有限公司", "probability": 40, "summary": "升级", "description": "有意向"})
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id,
                                                     HumanTask.status == TaskStatus.OPEN))
    held = timers.holders(task)
    assert users["supervisor1"].id in held  # manager1's supervisor
    assert users["supervisor2"].id not in held  # the other sales team's supervisor reaches none of manager1's
