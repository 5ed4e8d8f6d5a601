"""The process platform: a process is files, the inbox carries candidates, watchers and deadlines,
processes start on schedules and wake on messages, and work after a commit never runs on a rollback."""
from __future__ import annotations

import html
import json
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Customer,
    HumanTask,
    InstanceStatus,
    Job,
    Notification,
    ProcessInstance,
    ProcessSchedule,
    Role,
    ScheduleRun,
    TaskStatus,
)
from bpm_crm.services import (
    customers,
    definitions,
    human_tasks,
    inbox,
    instances,
    jobs,
    messages,
    opportunities,
    process_errors,
    recycle,
    schedules,
    timers,
)
from bpm_crm.services.demo import DEMO_PASSWORD
from bpm_crm.services.transaction import unit_of_work

BUNDLES = Path(__file__).resolve().parent / "bundles"
OPPORTUNITY = dict(source="展会", customer_name="杭州测试科技有限公司", probability=60, summary="采购办公软件",
                   contact="钱经理", contact_phone="13800138001", description="有意向更换办公系统")


@pytest.fixture
def review(app, tmp_path):
    """The customer review bundle deployed from a folder: a diagram and two forms, no Python."""
    folder = tmp_path / "review"
    shutil.copytree(BUNDLES / "review", folder)
    files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    assert files == ["customer_review.bpmn", "forms/review_rate.form", "forms/review_sign.form"]
    [(definition, created)] = definitions.deploy_directory(folder)
    assert created and set(definition.forms) == {"review_rate", "review_sign"}
    return definition


def customer_of(users, username="manager1", name="宁波复核测试有限公司"):
    return customers.create_customer(user=users[username], values={"name": name})


def start_review(customer, user):
    instance = instances.start_instance(process_id="customer_review", business_type="customer",
                                        business_id=customer.id, owner_id=customer.owner_id,
                                        title=f"{customer.number} 复核", data={}, user=user)
    db.session.commit()
    return instance


def open_step(instance_id, bpmn_id):
    db.session.expire_all()
    return db.session.scalar(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == TaskStatus.OPEN))


def sign_in(app, username):
    browser = app.test_client()
    assert browser.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return browser


def form_spec(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="task-form-definition">(.*?)</script>', page, re.S)
    assert match, "the page has no task form"
    return json.loads(html.unescape(match.group(1)))


def test_a_process_made_of_files_runs_end_to_end(app, review, users):
    customer = customer_of(users)
    instance = start_review(customer, users["manager1"])
    rate = open_step(instance.id, "rate")
    assert rate.candidate_roles == ["sales_supervisor"] and rate.assignee_id is None
    assert rate.id in {t.id for t in inbox.list_tasks(user=users["supervisor1"], view="claimable").items}
    assert rate.id not in {t.id for t in inbox.list_tasks(user=users["supervisor2"], view="claimable").items}

    page = sign_in(app, "supervisor1").get(f"/tasks/{rate.id}").get_data(as_text=True)
    assert form_spec(page)["schema"]["id"] == "review_rate" and "宁波复核测试有限公司" in page
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "supervisor1", "password": DEMO_PASSWORD}).json["token"]
    detail = api.get(f"/api/v1/tasks/{rate.id}", headers={"Authorization": f"Bearer {token}"}).json
    assert detail["form"]["id"] == "review_rate" and detail["record"]["type"] == "customer"
    assert detail["choices"]["rating"] == [{"id": "good", "label": "好"}, {"id": "bad", "label": "差"}]

    with pytest.raises(Invalid) as refused:
        human_tasks.complete_task(task_id=rate.id, user=users["supervisor1"],
                                  data={"rating": "bad", "sign_department": "人事部", "bonus": 1})
    assert refused.value.field_errors == {"bonus": ["表单中没有此字段"], "reason": ["请填写原因"],
                                          "sign_department": ["请从列表中选择"]}
    response = api.post(f"/api/v1/tasks/{rate.id}/complete", json={"data": {"rating": "maybe"}},
                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"rating", "sign_department"}
    assert open_step(instance.id, "rate").status == TaskStatus.OPEN

    human_tasks.complete_task(task_id=rate.id, user=users["supervisor1"],
                              data={"rating": "good", "reason": "ignored when hidden", "sign_department": "质量部"})
    sign = open_step(instance.id, "sign")
    assert sign.input_data == {} and sign.candidate_values("department")
    # The quality department's head signs although the customer belongs to 销售一部.
    assert sign.id in {t.id for t in inbox.list_tasks(user=users["quality"], view="claimable").items}
    page = sign_in(app, "quality").get(f"/tasks/{sign.id}")
    assert page.status_code == 200 and "宁波复核测试有限公司" in page.get_data(as_text=True)
    human_tasks.complete_task(task_id=sign.id, user=users["quality"], data={"signed": True})

    db.session.expire_all()
    done = db.session.get(ProcessInstance, instance.id)
    assert done.status == InstanceStatus.RUNNING and done.waits_for_message
    events = [(e.action, (e.data or {}).get("rating")) for e in instances.history(instance.id)]
    assert ("completed_task", "good") in events
    assert "reason" not in instances.instance_variables(done)  # a hidden field's value is not kept


def test_an_address_that_names_nobody_is_a_clear_error(review, users):
    instance = start_review(customer_of(users), users["manager1"])
    rate = open_step(instance.id, "rate")
    with pytest.raises(process_errors.ProcessFailed, match="'sign': candidates"):
        human_tasks.complete_task(task_id=rate.id, user=users["supervisor1"],
                                  data={"rating": "good", "sign_department": "法务部"})  # no such department
    assert open_step(instance.id, "rate") is not None and open_step(instance.id, "sign") is None


def test_watchers_read_a_task_and_its_record_but_cannot_act(app, review, users):
    instance = start_review(customer_of(users), users["manager1"])
    rate = open_step(instance.id, "rate")
    assert [w.user_id for w in rate.watchers] == [users["director"].id]
    assert inbox.counts(user=users["director"]).watched == 1
    assert [t.id for t in inbox.list_tasks(user=users["manager3"], view="watched").items] == []
    with pytest.raises(NotFound):
        human_tasks.get_task(task_id=rate.id, user=users["manager2"])
    human_tasks.add_watchers(task_id=rate.id, user=users["director"], user_ids=[users["manager3"].id])
    seen = human_tasks.get_task(task_id=rate.id, user=users["manager3"])
    assert human_tasks.actions(users["manager3"], seen) == []
    assert [t.id for t in inbox.list_tasks(user=users["manager3"], view="watched").items] == [rate.id]
    page = sign_in(app, "manager3").get(f"/tasks/{rate.id}").get_data(as_text=True)
    assert form_spec(page)["readonly"] is True and 'id="record-card"' in page
    with pytest.raises(Forbidden):
        human_tasks.complete_task(task_id=rate.id, user=users["manager3"], data={"rating": "good"})
    assert db.session.scalar(select(Notification).where(Notification.user_id == users["manager3"].id,
                                                        Notification.kind == "cc")) is not None


def test_reminder_and_escalation_fire_once_each(review, users):
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    clock.freeze(start)
    instance = start_review(customer_of(users), users["manager1"])
    rate = open_step(instance.id, "rate")
    assert (rate.due_at, rate.remind_at, rate.escalate_at) == (
        datetime(2026, 12, 1, 9, 0), datetime(2026, 12, 1, 7, 0), datetime(2026, 12, 1, 10, 0))
    human_tasks.claim_task(task_id=rate.id, user=users["supervisor1"])
    clock.freeze(start + timedelta(hours=6, minutes=1))
    assert timers.fire_due_deadlines() == 1 and timers.fire_due_deadlines() == 0
    clock.freeze(start + timedelta(hours=9, minutes=1))
    assert timers.fire_due_deadlines() == 1 and timers.fire_due_deadlines() == 0
    kinds = [(n.user_id, n.kind) for n in db.session.scalars(select(Notification).order_by(Notification.id))]
    assert kinds == [(users["supervisor1"].id, "reminder"), (users["director"].id, "escalation")]
    actions = [e.action for e in instances.history(instance.id)]
    assert actions.count("reminded") == 1 and actions.count("escalated") == 1


def test_renaming_a_role_orphans_no_task(users):
    role = db.session.scalar(select(Role).where(Role.code == "sales_supervisor"))
    role.name = "销售经理"
    db.session.commit()
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=OPPORTUNITY)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id))
    assert task.candidate_roles == ["sales_supervisor"]
    assert task.id in {t.id for t in inbox.list_tasks(user=users["supervisor1"], view="claimable").items}


def test_reassigning_moves_the_work_and_the_record(users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=OPPORTUNITY)
    instance_id = opportunity.process_instance_id
    human_tasks.complete_task(task_id=open_step(instance_id, "assign").id, user=users["supervisor1"],
                              data={"assignee_id": users["manager1"].id})
    plan = open_step(instance_id, "make_plan")
    with pytest.raises(Invalid):  # 销售二部 is outside supervisor1's scope
        human_tasks.reassign_task(task_id=plan.id, user=users["supervisor1"], assignee_id=users["manager2"].id)
    with pytest.raises(NotFound):
        human_tasks.get_task(task_id=plan.id, user=users["manager2"])
    human_tasks.reassign_task(task_id=plan.id, user=users["supervisor1"], assignee_id=users["manager3"].id)
    assert opportunities.get_opportunity(opportunity_id=opportunity.id, user=users["manager3"]).id == opportunity.id
    human_tasks.complete_task(task_id=plan.id, user=users["manager3"],
                              data={"plan_items": [{"date": "2026-12-01", "content": "拜访"}]})
    execute = open_step(instance_id, "execute_plan")
    assert execute.assignee_id == users["manager3"].id  # the next step follows the new assignee


def test_a_task_without_a_form_accepts_no_variables(users):
    xml = (BUNDLES / "confirm_only.bpmn").read_text()
    definitions.deploy(xml=xml, file_name="confirm_only.bpmn")
    instance = instances.start_instance(process_id="confirm_only", business_type=None, business_id=None,
                                        owner_id=users["manager1"].id, title="确认", data={}, user=users["manager1"])
    db.session.commit()
    task = open_step(instance.id, "confirm")
    for data in ({"approved_by_sup": True}, {"__class__": "x"}, {"len": 0}):
        with pytest.raises(Invalid):
            human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data=data)
    human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data={})
    db.session.expire_all()
    finished = db.session.get(ProcessInstance, instance.id)
    assert finished.status == InstanceStatus.COMPLETED
    assert "approved_by_sup" not in instances.instance_variables(finished)


def test_a_message_wakes_exactly_the_instance_of_its_record(review, users):
    first, second = customer_of(users, name="甲客户"), customer_of(users, name="乙客户")
    waiting = []
    for customer in (first, second):
        instance = start_review(customer, users["manager1"])
        human_tasks.complete_task(task_id=open_step(instance.id, "rate").id, user=users["supervisor1"],
                                  data={"rating": "good", "sign_department": "质量部"})
        human_tasks.complete_task(task_id=open_step(instance.id, "sign").id, user=users["quality"],
                                  data={"signed": True})
        waiting.append(instance.id)
    assert messages.correlate(message_name="order_placed", business_type="customer", business_id=999) == []
    assert messages.correlate(message_name="other", business_type="customer", business_id=first.id) == []
    woken = messages.correlate(message_name="order_placed", business_type="customer", business_id=first.id,
                               payload={"order_id": 7})
    db.session.commit()
    assert woken == [waiting[0]]
    db.session.expire_all()
    assert db.session.get(ProcessInstance, waiting[0]).status == InstanceStatus.COMPLETED
    assert db.session.get(ProcessInstance, waiting[1]).status == InstanceStatus.RUNNING
    assert messages.correlate(message_name="order_placed", business_type="customer", business_id=first.id) == []


@pytest.mark.commits  # two schedulers race on their own threads and connections
def test_a_scheduled_start_fires_once_per_due_time(app, users, backend):
    clock.freeze(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # a Tuesday
    definitions.deploy(xml=(BUNDLES / "scheduled_watch.bpmn").read_text(), file_name="scheduled_watch.bpmn")
    schedule = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "scheduled_watch"))
    assert schedule.next_run_at == datetime(2026, 12, 4, 18, 0)  # Saturday 02:00 in Shanghai
    assert schedules.run_schedule(schedule_id=schedule.id) is None  # not due yet (the shipped scans are others)

    clock.freeze(datetime(2026, 12, 4, 18, 0, 30, tzinfo=UTC))
    results: list[int | None] = []

    def scheduler() -> None:
        with app.app_context():
            results.append(schedules.run_schedule(schedule_id=schedule.id))
            db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.rollback()  # end this session's read snapshot: the schedulers committed in their own
    assert len([r for r in results if r is not None]) == 1
    assert db.session.scalar(select(ScheduleRun.id).where(ScheduleRun.schedule_id == schedule.id)) is not None
    started = db.session.scalars(select(ProcessInstance).where(ProcessInstance.process_id == "scheduled_watch")).all()
    assert len(started) == 1 and started[0].waits_for_message

    clock.freeze(datetime(2027, 1, 5, 0, 0, tzinfo=UTC))  # four missed weeks: one run, not four
    assert schedules.run_schedule(schedule_id=schedule.id) is not None
    assert schedules.run_schedule(schedule_id=schedule.id) is None
    db.session.expire_all()
    assert db.session.get(ProcessSchedule, schedule.id).next_run_at == datetime(2027, 1, 8, 18, 0)


@pytest.mark.commits  # the hand-off must follow a real COMMIT, not the release of a savepoint
def test_work_after_a_commit_never_runs_when_the_transaction_rolls_back(app, users):
    ran: list[dict] = []
    dispatched: list[list[int]] = []
    jobs.register("test.record", ran.append)
    jobs.set_dispatcher(dispatched.append)
    try:
        @unit_of_work
        def change(fail: bool) -> Job:
            customer = Customer(name="事后任务测试", owner_id=users["manager1"].id)
            db.session.add(customer)
            job = jobs.enqueue("test.record", {"customer": "事后任务测试"})
            if fail:
                raise RuntimeError("the business change failed")
            return job

        with pytest.raises(RuntimeError):
            change(True)
        assert dispatched == [] and db.session.scalars(select(Job)).all() == []
        job = change(False)
        assert dispatched == [[job.id]] and ran == []  # handed over after the commit, not run inside it
        assert jobs.run_job(job.id) is True and jobs.run_job(job.id) is False
        assert ran == [{"customer": "事后任务测试"}]
    finally:
        jobs.set_dispatcher(None)


def test_an_unreadable_state_becomes_an_incident_not_an_error_page(app, users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=OPPORTUNITY)
    instance = db.session.get(ProcessInstance, opportunity.process_instance_id)
    instance.state = "[" * 950 + "]" * 950
    db.session.commit()
    task = open_step(instance.id, "assign")
    with pytest.raises(process_errors.InstanceIncident):
        human_tasks.complete_task(task_id=task.id, user=users["supervisor1"],
                                  data={"assignee_id": users["manager1"].id})
    db.session.expire_all()
    assert "流程状态无法读取" in db.session.get(ProcessInstance, instance.id).error
    browser = sign_in(app, "supervisor1")
    assert browser.get(f"/tasks/{task.id}").status_code == 200
    assert browser.get(f"/instances/{instance.id}").status_code == 200
    response = browser.post(f"/tasks/{task.id}/complete", data={"assignee_id": users["manager1"].id})
    assert response.status_code in (302, 409)


def test_business_numbers_are_never_reused(users):
    manager = users["manager1"]
    first = customers.create_customer(user=manager, values={"name": "编号测试一"})
    number = first.number
    customers.delete_customer(customer_id=first.id, user=manager)
    second = customers.create_customer(user=manager, values={"name": "编号测试二"})
    assert second.number != number and second.id != first.id
    entry = recycle.list_entries(user=manager).items[0]
    recycle.restore(entry_id=entry.id, user=manager)
    restored = db.session.scalar(select(Customer).where(Customer.number == number))
    assert restored is not None and restored.name == "编号测试一"
