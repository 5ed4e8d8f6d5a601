"""Complaints (投诉处理与会签) and consultations through the service layer, on each backend."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Customer,
    Department,
    HumanTask,
    InstanceStatus,
    Notification,
    ProcessInstance,
    ServiceRequest,
    ServiceStatus,
    TaskStatus,
)
from bpm_crm.services import human_tasks, inbox, service_requests, service_work

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a working Monday


@pytest.fixture
def customer(users):
    row = Customer(name="杭州投诉测试有限公司", owner_id=users["manager1"].id, created_by_id=users["manager1"].id)
    db.session.add(row)
    db.session.flush()
    return row


def record(users, customer, kind="投诉", **extra):
    values = {"type": kind, "customer_id": customer.id, "summary": "设备三天两次故障",
              "detail": "客户来电：上周安装的设备三天内两次停机，要求赔偿停工损失。", **extra}
    return service_requests.create_request(user=users["agent"], values=values)


def open_tasks(request, bpmn_id=None):
    db.session.expire_all()
    query = select(HumanTask).where(HumanTask.instance_id == request.process_instance_id,
                                    HumanTask.status == TaskStatus.OPEN)
    if bpmn_id:
        query = query.where(HumanTask.bpmn_id == bpmn_id)
    return list(db.session.scalars(query.order_by(HumanTask.id)))


def department(name):
    return db.session.scalar(select(Department).where(Department.name == name))


def status(request):
    db.session.expire_all()
    return db.session.get(ServiceRequest, request.id).status


def accept(users, request, *names, user="service_lead"):
    task = open_tasks(request, "accept")[0]
    human_tasks.complete_task(task_id=task.id, user=users[user],
                              data={"departments": [department(name).id for name in names],
                                    "instructions": "请各部门核实责任"})


def sign(users, request, username, decision="agree", comment="同意"):
    heads = {"quality": "质量部", "production": "生产部", "finance": "财务部"}
    dept_id = str(department(heads[username]).id)
    task = next(t for t in open_tasks(request, "sign_off") if t.candidate_values("department") == [dept_id])
    human_tasks.complete_task(task_id=task.id, user=users[username], data={"decision": decision, "comment": comment})
    return task


def visit(users, request, satisfaction, feedback="客户认可处理结果"):
    task = open_tasks(request, "return_visit")[0]
    human_tasks.complete_task(task_id=task.id, user=users["agent"],
                              data={"satisfaction": str(satisfaction), "feedback": feedback})


def test_complaint_with_three_departments_one_rejecting_goes_back_to_the_supervisor(users, customer):
    clock.freeze(MONDAY)
    request = record(users, customer)
    assert request.number == f"FW{request.id:06d}" and request.status == ServiceStatus.NEW
    assert request.response_due_at == datetime(2026, 11, 23, 6, 0)  # 4 working hours: 14:00, lunch skipped
    accept_task = open_tasks(request, "accept")[0]
    assert accept_task.candidate_roles == ["service_supervisor"] and accept_task.due_at is not None

    clock.advance(timedelta(minutes=30))
    accept(users, request, "质量部", "生产部", "财务部")
    assert status(request) == ServiceStatus.ASSIGNED
    db.session.expire_all()
    row = db.session.get(ServiceRequest, request.id)
    assert row.handler_id == users["service_lead"].id and row.response_seconds == 1800
    signing = open_tasks(request, "sign_off")
    assert len(signing) == 3 and all(t.assignee_id is None for t in signing)
    assert sorted(int(t.candidate_values("department")[0]) for t in signing) == sorted(
        department(name).id for name in ("质量部", "生产部", "财务部"))

    sign(users, request, "quality", "agree", "质检记录显示安装调试不到位，同意赔偿")
    refused = sign(users, request, "production", "reject", "停机原因为客户电压不稳，不属于本部门责任")
    # 会签: one refusal decides — the last department is not asked any more, the supervisor accepts again.
    db.session.expire_all()
    assert db.session.get(HumanTask, refused.id).status == TaskStatus.COMPLETED
    assert open_tasks(request, "sign_off") == []
    cancelled = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == request.process_instance_id, HumanTask.bpmn_id == "sign_off",
        HumanTask.status == TaskStatus.CANCELLED)).all()
    assert len(cancelled) == 1
    again = open_tasks(request, "accept")
    assert len(again) == 1 and status(request) == ServiceStatus.ASSIGNED
    notices = db.session.scalars(select(Notification).where(Notification.user_id == users["service_lead"].id,
                                                            Notification.kind == "rejected")).all()
    assert len(notices) == 1

    rounds = service_work.sign_off_rounds(db.session.get(ServiceRequest, request.id))
    assert len(rounds) == 1
    outcome = {entry.department: (entry.state, entry.comment) for entry in rounds[0].entries}
    assert outcome == {"质量部": ("agree", "质检记录显示安装调试不到位，同意赔偿"),
                       "生产部": ("reject", "停机原因为客户电压不稳，不属于本部门责任"),
                       "财务部": ("cancelled", None)}


def test_complaint_full_path_with_the_satisfaction_loop(users, customer):
    clock.freeze(MONDAY)
    request = record(users, customer)
    accept(users, request, "质量部", "生产部")
    sign(users, request, "quality")
    sign(users, request, "production")
    compensate = open_tasks(request, "compensate")[0]
    assert compensate.assignee_id == users["service_lead"].id
    with pytest.raises(Invalid) as missing_bearer:
        human_tasks.complete_task(task_id=compensate.id, user=users["service_lead"], data={
            "handling": "更换主板", "deduction_amount": 500})
    assert set(missing_bearer.value.field_errors) == {"deduction_department_id"}
    with pytest.raises(Invalid):
        human_tasks.complete_task(task_id=compensate.id, user=users["service_lead"], data={
            "handling": "更换主板", "compensation_amount": 10 ** 12})
    assert status(request) == ServiceStatus.ASSIGNED
    human_tasks.complete_task(task_id=compensate.id, user=users["service_lead"], data={
        "handling": "上门更换主板并延长保修一年", "compensation_amount": 800, "deduction_amount": 500,
        "deduction_department_id": department("质量部").id})
    db.session.expire_all()
    row = db.session.get(ServiceRequest, request.id)
    assert row.status == ServiceStatus.HANDLED and row.handled_at is not None
    assert (row.compensation_amount, row.deduction_amount, row.deduction_department.name) == (
        Decimal("800.00"), Decimal("500.00"), "质量部")

    visit(users, request, 2, "客户认为补偿不足")
    assert status(request) == ServiceStatus.ASSIGNED  # back to handling
    row = db.session.get(ServiceRequest, request.id)
    assert row.reopened == 1 and row.satisfaction == 2 and row.archived_at is None
    accept(users, request, "质量部")
    sign(users, request, "quality", comment="同意追加补偿")
    human_tasks.complete_task(task_id=open_tasks(request, "compensate")[0].id, user=users["service_lead"],
                              data={"handling": "追加补偿 500 元", "compensation_amount": 1300})
    visit(users, request, 4)
    db.session.expire_all()
    row = db.session.get(ServiceRequest, request.id)
    assert row.status == ServiceStatus.ARCHIVED and row.satisfaction == 4 and row.resolution_seconds is not None
    assert db.session.get(ProcessInstance, row.process_instance_id).status == InstanceStatus.COMPLETED
    statuses = service_work.status_trail(row)
    assert [step.status for step in statuses] == ["新创建", "已分配", "已处理", "已反馈", "已分配", "已处理", "已反馈",
                                                  "已归档"]
    assert len(service_work.sign_off_rounds(row)) == 2


def test_a_consultation_follows_the_simple_path(users, customer):
    clock.freeze(MONDAY)
    request = record(users, customer, kind="咨询")
    assert status(request) == ServiceStatus.NEW
    assign = open_tasks(request, "assign")[0]
    human_tasks.complete_task(task_id=assign.id, user=users["service_lead"],
                              data={"handler_id": users["quality"].id, "instructions": "请解答保修条款"})
    assert status(request) == ServiceStatus.ASSIGNED
    handle = open_tasks(request, "handle")[0]
    assert handle.assignee_id == users["quality"].id
    human_tasks.complete_task(task_id=handle.id, user=users["quality"], data={"handling": "保修期两年，已解释"})
    assert status(request) == ServiceStatus.HANDLED
    human_tasks.complete_task(task_id=open_tasks(request, "give_feedback")[0].id, user=users["agent"],
                              data={"satisfaction": "2", "feedback": "客户知悉"})
    assert status(request) == ServiceStatus.ARCHIVED  # no loop for a consultation


def test_answered_on_the_call_it_closes_at_once(users, customer):
    request = record(users, customer, kind="咨询", answer="营业时间为工作日 9 点到 18 点")
    db.session.expire_all()
    row = db.session.get(ServiceRequest, request.id)
    assert row.status == ServiceStatus.ARCHIVED and row.handling == "营业时间为工作日 9 点到 18 点"
    assert row.handler_id == users["agent"].id and open_tasks(request) == []
    with pytest.raises(Invalid) as refused:
        record(users, customer, answer="已解释")
    assert refused.value.code == "complaint_answered_on_call"


def test_the_status_is_never_edited_by_hand(users, customer):
    request = record(users, customer, status="已归档", handler_id=users["agent"].id)
    assert request.status == ServiceStatus.NEW and request.handler_id is None
    accept(users, request, "质量部")
    with pytest.raises(Conflict):
        service_requests.update_request(request_id=request.id, user=users["agent"], values={"summary": "改"})


def test_the_seed_ticket_stages_follow_the_process(users, customer):
    """简易工单 坐席受理 → 处理完毕; 疑难工单 坐席受理 → 处理中 → 处理完毕待回访 → 回访完毕 (a poor visit: 处理中)."""
    def ticket(request):
        db.session.expire_all()
        row = db.session.get(ServiceRequest, request.id)
        return service_requests.ticket_kind(row), service_requests.ticket_stage(row), row.status

    answered = record(users, customer, kind="咨询", answer="保修两年")
    assert ticket(answered) == ("简易工单", "处理完毕", "已归档")

    complaint = record(users, customer)
    assert ticket(complaint) == ("疑难工单", "坐席受理", "新创建")
    accept(users, complaint, "质量部")
    assert ticket(complaint) == ("疑难工单", "处理中", "已分配")
    sign(users, complaint, "quality")
    assert ticket(complaint)[1] == "处理中"
    human_tasks.complete_task(task_id=open_tasks(complaint, "compensate")[0].id, user=users["service_lead"],
                              data={"handling": "更换主板"})
    assert ticket(complaint) == ("疑难工单", "处理完毕待回访", "已处理")
    visit(users, complaint, 2)
    assert ticket(complaint) == ("疑难工单", "处理中", "已分配")
    accept(users, complaint, "质量部")
    sign(users, complaint, "quality")
    human_tasks.complete_task(task_id=open_tasks(complaint, "compensate")[0].id, user=users["service_lead"],
                              data={"handling": "追加补偿"})
    visit(users, complaint, 5)
    assert ticket(complaint) == ("疑难工单", "回访完毕", "已归档")

    dispatched = record(users, customer, kind="建议")  # not answered on the call: dispatched like a complaint
    assert ticket(dispatched) == ("疑难工单", "坐席受理", "新创建")


def test_a_department_head_sees_a_complaint_only_while_and_because_he_signs(users, customer):
    request = record(users, customer)

    def visible(username):
        try:
            service_requests.get_request(request_id=request.id, user=users[username])
        except NotFound:
            return False
        return request.id in {r.id for r in service_requests.list_requests(user=users[username]).items}

    assert not visible("quality") and not visible("finance")
    accept(users, request, "质量部", "生产部")
    assert visible("quality") and visible("production") and not visible("finance")
    sign(users, request, "quality")
    assert visible("quality")  # the sign-off still runs: he sees how the others decide
    sign(users, request, "production")
    assert not visible("quality") and not visible("production")
    assert visible("agent") and visible("service_lead")


def test_a_head_who_signed_an_earlier_round_does_not_see_a_later_round_without_his_department(users, customer):
    request = record(users, customer)

    def visible(username):
        try:
            service_requests.get_request(request_id=request.id, user=users[username])
        except NotFound:
            return False
        return request.id in {r.id for r in service_requests.list_requests(user=users[username]).items}

    accept(users, request, "质量部", "生产部")
    sign(users, request, "production", "reject", "不属于本部门责任")
    assert open_tasks(request, "accept") and not visible("production") and not visible("quality")
    accept(users, request, "质量部")  # the second round asks the quality department alone
    assert visible("quality") and not visible("production")
    sign(users, request, "quality")
    human_tasks.complete_task(task_id=open_tasks(request, "compensate")[0].id, user=users["service_lead"],
                              data={"handling": "上门维修"})
    visit(users, request, 1, "客户仍不满意")  # back to acceptance: a third round, the production department again
    accept(users, request, "生产部")
    assert visible("production") and not visible("quality")
    sign(users, request, "production")
    assert not visible("production") and not visible("quality")


def test_bad_input_changes_nothing(users, customer):
    request = record(users, customer)
    task = open_tasks(request, "accept")[0]
    for data in ({"departments": []}, {"departments": [999999]}, {"departments": "质量部"},
                 {"departments": [department("质量部").id], "bonus": 1}):
        with pytest.raises(Invalid):
            human_tasks.complete_task(task_id=task.id, user=users["service_lead"], data=data)
    assert status(request) == ServiceStatus.NEW and len(open_tasks(request, "accept")) == 1
    with pytest.raises(NotFound):
        human_tasks.complete_task(task_id=task.id, user=users["manager2"], data={"departments": []})
    accept(users, request, "质量部")
    with pytest.raises(Conflict):
        human_tasks.complete_task(task_id=task.id, user=users["service_lead"],
                                  data={"departments": [department("质量部").id]})
    assert db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == request.process_instance_id, HumanTask.bpmn_id == "sign_off")) == 1
    assert inbox.counts(user=users["quality"]).claimable == 1
