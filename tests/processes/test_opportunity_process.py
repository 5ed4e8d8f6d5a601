"""The opportunity process end to end through the service layer, on each backend."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Contact,
    Customer,
    HumanTask,
    InstanceStatus,
    Notification,
    OpportunityStatus,
    ProcessEvent,
    TaskStatus,
)
from bpm_crm.services import human_tasks, inbox, instances, opportunities, timers

VALUES = dict(source="展会", customer_name="杭州测试科技有限公司", probability=60, summary="采购办公软件",
              contact="钱经理", contact_phone="13800138001", description="有意向更换办公系统")


def create(user, **changes):
    return opportunities.create_opportunity(user=user, values={**VALUES, **changes})


def open_task(opportunity, bpmn_id):
    return db.session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == opportunity.process_instance_id,
            HumanTask.bpmn_id == bpmn_id,
            HumanTask.status == TaskStatus.OPEN,
        )
    )


def test_creating_an_opportunity_offers_the_assign_task_to_supervisors_of_the_department(users):
    opportunity = create(users["manager1"])
    assert opportunity.number == f"JH{opportunity.id:06d}"
    assert opportunity.status == OpportunityStatus.UNASSIGNED
    task = open_task(opportunity, "assign")
    assert task.candidate_role == "sales_supervisor" and task.assignee_id is None
    assert task.due_at is not None  # the boundary timer's due time

    claimable = {t.id for t in inbox.list_tasks(user=users["supervisor1"], view="claimable").items}
    assert task.id in claimable
    other_department = {t.id for t in inbox.list_tasks(user=users["supervisor2"], view="claimable").items}
    assert task.id not in other_department
    assert inbox.counts(user=users["supervisor1"]).claimable == 1


def test_whole_journey_to_success_creates_the_customer(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    opportunity = create(manager)

    assign = open_task(opportunity, "assign")
    human_tasks.complete_task(task_id=assign.id, user=supervisor, data={"assignee_id": manager.id})
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.ASSIGNED
    assert opportunity.assignee_id == manager.id and opportunity.assigned_at is not None

    plan = open_task(opportunity, "make_plan")
    assert plan.assignee_id == manager.id
    draft = human_tasks.save_draft(task_id=plan.id, user=manager, data={"plan_items": [
        {"date": "2026-12-01", "content": "电话拜访"}]})
    assert draft.draft == {"plan_items": [{"date": "2026-12-01", "content": "电话拜访"}]}
    db.session.refresh(opportunity)
    assert opportunity.plan_items == []  # a draft is the planner's until he submits it
    human_tasks.complete_task(task_id=plan.id, user=manager, data={"plan_items": [
        {"date": "2026-12-01", "content": "电话拜访，确认需求"}, {"date": "2026-12-08", "content": "上门演示"}]})
    db.session.refresh(opportunity)
    assert [(i.date.isoformat(), i.content) for i in opportunity.plan_items] == [
        ("2026-12-01", "电话拜访，确认需求"), ("2026-12-08", "上门演示")]

    execute = open_task(opportunity, "execute_plan")
    items = opportunity.plan_items
    assert [row["id"] for row in execute.input_data["plan_results"]] == [items[0].id, items[1].id]
    human_tasks.save_draft(task_id=execute.id, user=manager,
                           data={"plan_results": [{"result": "客户有意向"}, {"result": ""}]})
    human_tasks.save_draft(task_id=execute.id, user=manager,
                           data={"plan_results": [{"result": "客户有明确意向"}, {"result": ""}]})
    human_tasks.complete_task(task_id=execute.id, user=manager, data={
        "plan_results": [{"result": "客户有明确意向", "date": "2030-01-01"}, {"result": "演示成功"}],
        "decision": "success"}, comment="签约")

    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.SUCCEEDED
    customer = db.session.scalar(select(Customer).where(Customer.opportunity_id == opportunity.id))
    assert (customer.name, customer.contact_name, customer.phone) == (
        VALUES["customer_name"], VALUES["contact"], VALUES["contact_phone"])
    assert customer.owner_id == manager.id and customer.number.startswith("KH")
    assert [(i.date.isoformat(), i.result) for i in opportunity.plan_items] == [
        ("2026-12-01", "客户有明确意向"), ("2026-12-08", "演示成功")]  # a submitted plan's dates never change
    contact = db.session.scalar(select(Contact).where(Contact.customer_id == customer.id))
    assert (contact.name, contact.office_phone) == (VALUES["contact"], VALUES["contact_phone"])
    instance = db.session.get(instances.ProcessInstance, opportunity.process_instance_id)
    assert instance.status == InstanceStatus.COMPLETED and instance.next_timer_at is None
    actions = [e.action for e in instances.history(instance.id)]
    assert actions[0] == "started" and actions[-1] == "completed"
    assert actions.count("completed_task") == 3
    done = [e for e in instances.history(instance.id) if e.action == "completed_task"]
    assert done[-1].user_id == manager.id and done[-1].comment == "签约" and done[-1].data["decision"] == "success"


def test_terminating_development_marks_the_opportunity_failed(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    opportunity = create(manager)
    human_tasks.complete_task(task_id=open_task(opportunity, "assign").id, user=supervisor,
                           data={"assignee_id": manager.id})
    human_tasks.complete_task(task_id=open_task(opportunity, "make_plan").id, user=manager,
                           data={"plan_items": [{"date": "2026-12-01", "content": "拜访"}]})
    human_tasks.complete_task(task_id=open_task(opportunity, "execute_plan").id, user=manager,
                              data={"plan_results": [{"result": ""}], "decision": "fail"})
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.FAILED
    assert db.session.scalar(select(Customer).where(Customer.opportunity_id == opportunity.id)) is None


def test_completing_twice_succeeds_once(users):
    opportunity = create(users["manager1"])
    task = open_task(opportunity, "assign")
    human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data={"assignee_id": users["manager1"].id})
    with pytest.raises(Conflict):
        human_tasks.complete_task(task_id=task.id, user=users["supervisor1"],
                               data={"assignee_id": users["manager3"].id})
    db.session.refresh(opportunity)
    assert opportunity.assignee_id == users["manager1"].id
    completions = db.session.scalars(select(ProcessEvent).where(ProcessEvent.action == "completed_task")).all()
    assert len(completions) == 1


def test_wrong_form_values_change_nothing(users):
    opportunity = create(users["manager1"])
    task = open_task(opportunity, "assign")
    for bad in ({}, {"assignee_id": "abc"}, {"assignee_id": users["supervisor2"].id},
                {"assignee_id": users["manager2"].id}):  # manager2 is outside supervisor1's department
        with pytest.raises(Invalid) as err:
            human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data=bad)
        assert "assignee_id" in err.value.field_errors
    db.session.refresh(task)
    assert task.status == TaskStatus.OPEN and task.assignee_id is None  # the failed attempt did not claim it
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.UNASSIGNED

    human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data={"assignee_id": users["manager1"].id})
    plan = open_task(opportunity, "make_plan")
    with pytest.raises(Invalid) as err:
        human_tasks.complete_task(task_id=plan.id, user=users["manager1"],
                               data={"plan_items": [{"date": "2026/12/01", "content": ""}]})
    assert set(err.value.field_errors) == {"plan_items.0.date", "plan_items.0.content"}
    with pytest.raises(Invalid):
        human_tasks.complete_task(task_id=plan.id, user=users["manager1"], data={"plan_items": []})
    db.session.refresh(opportunity)
    assert opportunity.plan_items == []


def test_someone_elses_task_is_refused(users):
    opportunity = create(users["manager1"])
    task = open_task(opportunity, "assign")
    with pytest.raises(NotFound):  # supervisor2's department cannot even see it
        human_tasks.complete_task(task_id=task.id, user=users["supervisor2"],
                                  data={"assignee_id": users["manager2"].id})
    with pytest.raises(Forbidden):  # the creator sees it (his process) but it is not his task
        human_tasks.complete_task(task_id=task.id, user=users["manager1"], data={"assignee_id": users["manager1"].id})
    human_tasks.claim_task(task_id=task.id, user=users["supervisor1"])
    with pytest.raises(Forbidden):
        human_tasks.complete_task(task_id=task.id, user=users["director"], data={"assignee_id": users["manager1"].id})
    db.session.refresh(task)
    assert task.status == TaskStatus.OPEN and task.assignee_id == users["supervisor1"].id


def test_claim_and_release(users):
    opportunity = create(users["manager1"])
    task = open_task(opportunity, "assign")
    human_tasks.claim_task(task_id=task.id, user=users["supervisor1"])
    assert [t.id for t in inbox.list_tasks(user=users["supervisor1"]).items] == [task.id]
    with pytest.raises(Conflict):
        human_tasks.claim_task(task_id=task.id, user=users["director"])
    human_tasks.release_task(task_id=task.id, user=users["supervisor1"])
    db.session.refresh(task)
    assert task.assignee_id is None
    assert [e.action for e in instances.history(task.instance_id)][-2:] == ["claimed", "released"]


def test_assign_timer_escalates_to_the_director_exactly_once(users):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    opportunity = create(users["manager1"])
    instance = db.session.get(instances.ProcessInstance, opportunity.process_instance_id)
    assert instance.next_timer_at == (start + timedelta(days=2)).replace(tzinfo=None)

    clock.freeze(start + timedelta(days=1, hours=23))
    assert timers.fire_due_timers() == 0
    assert open_task(opportunity, "assign") is not None

    clock.freeze(start + timedelta(days=2, minutes=1))
    assert timers.fire_due_timers() == 1
    assert timers.fire_due_timers() == 0  # a second scheduler pass finds nothing due
    assert open_task(opportunity, "assign") is None
    escalated = open_task(opportunity, "assign_escalated")
    assert escalated.candidate_role == "sales_director"
    cancelled = db.session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "assign"))
    assert cancelled.status == TaskStatus.CANCELLED

    human_tasks.complete_task(task_id=escalated.id, user=users["director"], data={"assignee_id": users["manager2"].id})
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.ASSIGNED and opportunity.assignee_id == users["manager2"].id
    assert open_task(opportunity, "make_plan").assignee_id == users["manager2"].id


def test_timer_state_survives_a_restart(users, app):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    opportunity = create(users["manager1"])
    instance_id = opportunity.process_instance_id
    db.session.remove()  # a new process: nothing in memory, only the database
    clock.freeze(start + timedelta(days=3))
    assert timers.fire_due_timers() == 1
    assert db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "assign_escalated")) is not None


def test_edit_and_delete_only_while_unassigned_and_delete_only_by_creator(users):
    opportunity = create(users["manager1"])
    with pytest.raises(Forbidden):
        opportunities.delete_opportunity(opportunity_id=opportunity.id, user=users["supervisor1"])
    opportunities.update_opportunity(opportunity_id=opportunity.id, user=users["manager1"],
                                     values={"probability": 80})
    instance_id = opportunity.process_instance_id
    opportunities.delete_opportunity(opportunity_id=opportunity.id, user=users["manager1"])
    instance = db.session.get(instances.ProcessInstance, instance_id)
    assert instance.status == InstanceStatus.CANCELLED and instance.next_timer_at is None
    assert db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)) is None

    second = create(users["manager1"])
    human_tasks.complete_task(task_id=open_task(second, "assign").id, user=users["supervisor1"],
                           data={"assignee_id": users["manager1"].id})
    with pytest.raises(Conflict):
        opportunities.update_opportunity(opportunity_id=second.id, user=users["manager1"], values={"probability": 1})
    with pytest.raises(Conflict):
        opportunities.delete_opportunity(opportunity_id=second.id, user=users["manager1"])


def test_account_manager_cannot_read_another_departments_opportunity(users):
    theirs = create(users["manager2"])
    with pytest.raises(NotFound):
        opportunities.get_opportunity(opportunity_id=theirs.id, user=users["manager1"])
    assert opportunities.list_opportunities(user=users["manager1"]).total == 0
    assert opportunities.get_opportunity(opportunity_id=theirs.id, user=users["supervisor2"]).id == theirs.id
    assert opportunities.get_opportunity(opportunity_id=theirs.id, user=users["director"]).id == theirs.id
    with pytest.raises(NotFound):
        opportunities.get_opportunity(opportunity_id=theirs.id, user=users["supervisor1"])


def test_a_task_the_diagram_gives_to_a_person_cannot_be_released_to_the_role(users):
    opportunity = create(users["manager1"])
    human_tasks.complete_task(task_id=open_task(opportunity, "assign").id, user=users["supervisor1"],
                           data={"assignee_id": users["manager1"].id})
    plan = open_task(opportunity, "make_plan")
    assert not plan.offered and not human_tasks.can_release(users["manager1"], plan)
    with pytest.raises(Forbidden):
        human_tasks.release_task(task_id=plan.id, user=users["manager1"])
    assert plan.id not in {t.id for t in inbox.list_tasks(user=users["manager3"], view="claimable").items}


def test_a_supervisor_reassigns_only_to_holders_of_the_tasks_role(users):
    opportunity = create(users["manager1"])
    task = open_task(opportunity, "assign")
    with pytest.raises(Invalid):
        human_tasks.reassign_task(task_id=task.id, user=users["director"], assignee_id=users["manager1"].id)
    with pytest.raises(Forbidden):
        human_tasks.reassign_task(task_id=task.id, user=users["manager1"], assignee_id=users["supervisor1"].id)
    human_tasks.reassign_task(task_id=task.id, user=users["director"], assignee_id=users["supervisor1"].id,
                           comment="请尽快指派")
    db.session.refresh(task)
    assert task.assignee_id == users["supervisor1"].id
    event = instances.history(task.instance_id)[-1]
    assert (event.action, event.user_id, event.comment) == ("reassigned", users["director"].id, "请尽快指派")


def test_a_plan_item_past_its_date_reminds_the_assignee_once(users):
    manager = users["manager1"]
    clock.freeze(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    opportunity = create(manager)
    human_tasks.complete_task(task_id=open_task(opportunity, "assign").id, user=users["supervisor1"],
                              data={"assignee_id": manager.id})
    human_tasks.complete_task(task_id=open_task(opportunity, "make_plan").id, user=manager, data={"plan_items": [
        {"date": "2026-12-09", "content": "上门演示"}, {"date": "2026-12-03", "content": "电话拜访"}]})
    execute = open_task(opportunity, "execute_plan")
    assert execute.remind_at == datetime(2026, 12, 3, 16, 0)  # the day after the first item, in Shanghai
    clock.freeze(datetime(2026, 12, 3, 15, 59, tzinfo=UTC))
    assert timers.fire_due_deadlines() == 0
    clock.freeze(datetime(2026, 12, 3, 16, 1, tzinfo=UTC))
    assert timers.fire_due_deadlines() == 1 and timers.fire_due_deadlines() == 0
    reminders = db.session.scalars(select(Notification).where(Notification.kind == "reminder")).all()
    assert [(n.user_id, n.task_id) for n in reminders] == [(manager.id, execute.id)]


def test_success_needs_a_recorded_result(users):
    manager = users["manager1"]
    opportunity = create(manager)
    human_tasks.complete_task(task_id=open_task(opportunity, "assign").id, user=users["supervisor1"],
                              data={"assignee_id": manager.id})
    human_tasks.complete_task(task_id=open_task(opportunity, "make_plan").id, user=manager,
                              data={"plan_items": [{"date": "2026-12-03", "content": "电话拜访"}]})
    execute = open_task(opportunity, "execute_plan")
    with pytest.raises(Invalid) as refused:
        human_tasks.complete_task(task_id=execute.id, user=manager,
                                  data={"plan_results": [{"result": "  "}], "decision": "success"})
    assert refused.value.field_errors == {"decision": ["开发成功前请至少记录一条执行效果"]}
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.ASSIGNED and open_task(opportunity, "execute_plan") is not None
