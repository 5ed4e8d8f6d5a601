"""The service pages driven by the process: the bell, the notification list, the request page with its sign-off,
SLA figures and deadlines, the list's handler and overdue filters, 转办 and 催办."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import Customer, Department, HumanTask, Notification, TaskStatus
from bpm_crm.services import human_tasks, service_requests

from .helpers import page_text

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def complaint(users, summary="设备故障"):
    customer = Customer(name="页面测试有限公司", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.flush()
    return service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "customer_id": customer.id, "summary": summary, "detail": "三天两次停机"})


def open_task(request, bpmn_id):
    db.session.expire_all()
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == request.process_instance_id,
                                                     HumanTask.bpmn_id == bpmn_id, HumanTask.status == TaskStatus.OPEN))


def department(name):
    return db.session.scalar(select(Department).where(Department.name == name)).id


def test_the_request_page_shows_the_sign_off_side_by_side_and_the_sla(login, users):
    clock.freeze(MONDAY)
    request = complaint(users)
    human_tasks.complete_task(task_id=open_task(request, "accept").id, user=users["service_lead"],
                              data={"departments": [department("质量部"), department("生产部")]})
    sign = [t for t in db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == request.process_instance_id, HumanTask.bpmn_id == "sign_off"))]
    quality_task = next(t for t in sign if t.candidate_values("department") == [str(department("质量部"))])
    human_tasks.complete_task(task_id=quality_task.id, user=users["quality"],
                              data={"decision": "agree", "comment": "安装质检记录不全，同意赔偿"})

    page = page_text(login("quality").get(f"/service/{request.id}"))
    assert 'id="sign-off-round-1"' in page and "安装质检记录不全，同意赔偿" in page
    assert 'data-department="生产部"' in page and "待会签" in page and "会签中" in page
    assert 'id="sla-response"' in page and "达标" in page and 'id="status-steps"' in page
    assert login("finance").get(f"/service/{request.id}").status_code == 404

    lead = login("service_lead")
    listing = page_text(lead.get(f"/service/?handler_id={users['service_lead'].id}"))
    assert request.number in listing and 'id="sla-summary"' in listing
    assert request.number not in page_text(lead.get("/service/?overdue=1"))
    clock.freeze(MONDAY + timedelta(days=10))
    assert request.number in page_text(lead.get("/service/?overdue=1"))
    assert 'id="service-overdue"' in page_text(lead.get(f"/service/{request.id}"))


def test_the_bell_counts_unread_and_opening_one_leads_to_its_task(login, users):
    request = complaint(users)
    agent = login("agent")
    response = agent.post(f"/service/{request.id}/nudge")
    assert response.status_code == 302
    again = agent.post(f"/service/{request.id}/nudge", follow_redirects=True)
    assert "一小时内已催办过" in page_text(again)

    lead = login("service_lead")
    home = page_text(lead.get("/"))
    assert 'id="bell-count">1<' in home and "受理投诉并指定责任部门" in home
    [row] = db.session.scalars(select(Notification).where(Notification.user_id == users["service_lead"].id))
    task_page = f"/tasks/{open_task(request, 'accept').id}"
    # The bell and the list open a notification with a POST; a GET of its address only leads there.
    assert f'<form method="post" action="/notifications/{row.id}">' in home and f'id="bell-open-{row.id}"' in home
    listing = page_text(lead.get("/notifications/"))
    assert "催办" in listing and f'id="open-notification-{row.id}"' in listing
    assert f'href="/notifications/{row.id}"' not in home + listing
    looked = lead.get(f"/notifications/{row.id}")
    assert looked.status_code == 302 and looked.headers["Location"] == task_page
    db.session.expire_all()
    assert db.session.get(Notification, row.id).read_at is None
    assert 'id="bell-count">1<' in page_text(lead.get("/"))
    opened = lead.post(f"/notifications/{row.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == task_page
    db.session.expire_all()
    assert db.session.get(Notification, row.id).read_at is not None
    assert 'id="bell-count"' not in page_text(lead.get("/"))
    assert login("agent").get(f"/notifications/{row.id}").status_code == 404
    assert login("agent").post(f"/notifications/{row.id}").status_code == 404
    assert lead.post("/notifications/read-all").status_code == 302


def test_transfer_from_the_request_page(login, users):
    request = complaint(users)
    human_tasks.complete_task(task_id=open_task(request, "accept").id, user=users["service_lead"],
                              data={"departments": [department("质量部")]})
    human_tasks.complete_task(task_id=open_task(request, "sign_off").id, user=users["quality"],
                              data={"decision": "agree"})
    lead = login("service_lead")
    page = page_text(lead.get(f"/service/{request.id}"))
    assert 'id="transfer-service"' in page and 'id="open-task-compensate"' in page
    for bad in ("abc", "²", "9" * 30):
        refused = lead.post(f"/service/{request.id}/transfer", data={"to_user_id": bad}, follow_redirects=True)
        assert refused.status_code == 200 and "请选择一位在职的客服处理人员" in page_text(refused)
    lead.post(f"/service/{request.id}/transfer", data={"to_user_id": users["quality"].id, "comment": "请处理"})
    db.session.expire_all()
    assert open_task(request, "compensate").assignee_id == users["quality"].id
    told = db.session.scalars(select(Notification).where(Notification.user_id == users["quality"].id,
                                                         Notification.kind == "transfer")).all()
    assert len(told) == 1  # the new handler is told, once
    assert 'id="transfer-service"' not in page_text(login("agent").get(f"/service/{request.id}"))


def test_a_department_head_lists_exactly_the_requests_he_signs_off(login, users):
    request = complaint(users, summary="会签可见")
    other = complaint(users, summary="与他无关")
    assert login("quality").get("/service/").status_code == 200  # a list without rows, not a refusal
    human_tasks.complete_task(task_id=open_task(request, "accept").id, user=users["service_lead"],
                              data={"departments": [department("质量部"), department("生产部")]})
    quality = login("quality")
    listing = page_text(quality.get("/service/"))
    assert request.number in listing and other.number not in listing and 'id="sla-total"' in listing
    assert 'href="/service/"' in page_text(quality.get("/"))  # the section is in his navigation
    assert request.number in page_text(quality.get("/service/?type=投诉"))
    assert quality.get(f"/service/{request.id}").status_code == 200
    assert quality.get(f"/service/{other.id}").status_code == 404
    api = service_requests.list_requests(user=users["quality"])
    assert [r.id for r in api.items] == [request.id]  # the same clause as the API's list
    finance = page_text(login("finance").get("/service/"))
    assert request.number not in finance and other.number not in finance

    sign = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == request.process_instance_id,
                                                      HumanTask.bpmn_id == "sign_off")).all()
    for task in sign:
        head = "quality" if task.candidate_values("department") == [str(department("质量部"))] else "production"
        human_tasks.complete_task(task_id=task.id, user=users[head], data={"decision": "agree"})
    assert request.number not in page_text(login("quality").get("/service/"))


def test_the_list_and_the_page_show_the_ticket_kind_its_stage_and_the_closed_share(login, users):
    import re

    request = complaint(users, summary="疑难投诉")
    answered = service_requests.create_request(user=users["agent"], values={
        "type": "咨询", "customer_id": request.customer_id, "summary": "营业时间", "detail": "问营业时间",
        "answer": "工作日 9 点到 18 点"})
    human_tasks.complete_task(task_id=open_task(request, "accept").id, user=users["service_lead"],
                              data={"departments": [department("质量部")]})
    agent = login("agent")
    listing = page_text(agent.get("/service/"))

    def cell(record):
        found = re.search(rf'data-ticket="{record.id}">(.*?)</td>', listing, re.S).group(1)
        return re.sub(r"<[^>]+>", "", found).split()

    assert cell(request) == ["疑难工单", "处理中"] and cell(answered) == ["简易工单", "处理完毕"]
    closed = re.search(r'id="sla-closed-rate">(.*?)</div>\s*</div>', listing, re.S).group(1)
    assert "办结率" in closed and "50.0%" in closed  # one of the two is closed
    assert "0.0%" in re.search(r'id="sla-closed-rate">(.*?)</div>\s*</div>',
                               page_text(agent.get("/service/?type=投诉")), re.S).group(1)

    page = page_text(agent.get(f"/service/{request.id}"))
    assert '<span class="badge text-bg-light border" id="ticket-kind">疑难工单</span>' in page
    assert '<strong id="ticket-stage">处理中</strong>' in page and "处理完毕待回访" in page and "回访完毕" in page
    simple = page_text(agent.get(f"/service/{answered.id}"))
    assert '<strong id="ticket-stage">处理完毕</strong>' in simple and "处理中" not in simple.split(
        'id="service-ticket"')[1].split("</dd>")[0]


def test_a_request_listed_as_overdue_for_a_late_step_says_so_in_its_row(login, users):
    clock.freeze(MONDAY)
    request = complaint(users)
    human_tasks.complete_task(task_id=open_task(request, "accept").id, user=users["service_lead"],
                              data={"departments": [department("质量部")]})
    sign_off = open_task(request, "sign_off")
    sign_off.due_at = clock.utcnow_naive() + timedelta(hours=1)  # the step is due long before the request
    db.session.flush()
    lead = login("service_lead")
    on_time = page_text(lead.get("/service/"))
    assert request.number in on_time and "sla-step-late" not in on_time

    clock.freeze(MONDAY + timedelta(hours=2))
    late = page_text(lead.get("/service/?overdue=1"))
    assert request.number in late and "sla-late" not in late  # the request's own targets are not missed …
    assert "步骤超期" in late  # … but its row says why it is listed
