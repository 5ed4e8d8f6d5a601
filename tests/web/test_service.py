"""Service request pages: record, field errors, scope, filters, edit and delete while new, export."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, RecycleBinEntry, ServiceRequest, ServiceStatus
from bpm_crm.services import service_requests

from .helpers import page_text

VALUES = {"type": "投诉", "summary": "设备频繁死机", "detail": "考勤机每天死机两三次，要求上门检修。"}


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def count() -> int:
    return db.session.scalar(select(func.count(ServiceRequest.id))) or 0


def test_an_agent_records_a_complaint_for_any_customer(login, users):
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    browser = login("agent")
    form = page_text(browser.get(f"/service/new?customer_id={theirs.id}"))
    assert 'id="service-form"' in form and "投诉" in form and "成都蜀味餐饮" in form
    response = browser.post("/service/new", data={**VALUES, "customer_id": theirs.id})
    record = db.session.scalar(select(ServiceRequest))
    assert response.status_code == 302 and response.headers["Location"] == f"/service/{record.id}"
    page = page_text(browser.get(response.headers["Location"]))
    assert record.number in page and "设备频繁死机" in page and "新创建" in page and "孙客服" in page
    # Its process has started: the supervisor's step waits, with its deadline, on the request's page.
    assert 'id="edit-service-request"' in page and "尚未受理" in page
    assert "受理投诉并指定责任部门" in page and "客服主管" in page and 'id="sla-response"' in page


def test_wrong_type_missing_fields_and_foreign_customer_show_field_errors(login, users):
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    browser = login("manager1")
    response = browser.post("/service/new", data={"type": "表扬", "customer_id": theirs.id, "summary": "",
                                                  "detail": ""})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="summary"' in page and 'data-field-error="detail"' in page
    response = browser.post("/service/new", data={**VALUES, "type": "表扬", "customer_id": theirs.id})
    assert response.status_code == 422 and "服务类型不在数据字典中" in page_text(response)
    # The form checks each field's rule; the customer's scope (a database rule) is the service's, checked next.
    response = browser.post("/service/new", data={**VALUES, "customer_id": theirs.id})
    assert response.status_code == 422 and "客户不存在或您无权为其新建客户服务" in page_text(response)
    assert count() == 0


def test_scope_filters_and_export(login, users):
    agent = users["agent"]
    mine = customer(users["manager1"])
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    own = service_requests.create_request(user=agent, values={**VALUES, "customer_id": mine.id})
    foreign = service_requests.create_request(user=agent, values={**VALUES, "type": "咨询", "summary": "价格咨询",
                                                                  "customer_id": theirs.id})
    browser = login("manager1")
    listing = page_text(browser.get("/service/"))
    assert own.number in listing and foreign.number not in listing
    response = browser.get(f"/service/{foreign.id}")
    assert response.status_code == 404 and "客户服务不存在或您无权查看" in page_text(response)

    agent_browser = login("agent")
    assert own.number not in page_text(agent_browser.get("/service/?type=咨询"))
    assert foreign.number in page_text(agent_browser.get("/service/?type=咨询"))
    assert foreign.number in page_text(agent_browser.get(f"/service/?customer_id={theirs.id}"))
    assert own.number not in page_text(agent_browser.get("/service/?status=已归档"))
    sheet = load_workbook(io.BytesIO(agent_browser.get("/service/export?q=价格").data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == foreign.number and rows[1][1] == "咨询"


def test_edit_and_delete_while_new_only(login, users):
    mine = customer(users["manager1"])
    record = service_requests.create_request(user=users["manager1"], values={**VALUES, "customer_id": mine.id})
    browser = login("manager1")
    assert 'value="设备频繁死机"' in page_text(browser.get(f"/service/{record.id}/edit"))
    response = browser.post(f"/service/{record.id}/edit", data={**VALUES, "summary": "考勤机死机",
                                                                "customer_id": mine.id})
    assert response.status_code == 302
    db.session.refresh(record)
    assert record.summary == "考勤机死机"

    record.status = ServiceStatus.ASSIGNED.value
    db.session.commit()
    page = page_text(browser.get(f"/service/{record.id}"))
    assert 'id="edit-service-request"' not in page
    response = browser.post(f"/service/{record.id}/edit", data={**VALUES, "customer_id": mine.id})
    assert response.status_code == 409 and "不能再修改或删除" in page_text(response)

    record.status = ServiceStatus.NEW.value
    db.session.commit()
    response = browser.post(f"/service/{record.id}/delete", follow_redirects=True)
    assert "已移入回收站" in page_text(response) and count() == 0
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "service_request"


def test_handling_and_satisfaction_are_shown_read_only_when_present(login, users):
    mine = customer(users["manager1"])
    record = service_requests.create_request(user=users["agent"], values={**VALUES, "customer_id": mine.id})
    record.status, record.handler_id = ServiceStatus.FEEDBACK.value, users["manager1"].id
    record.handling, record.feedback, record.satisfaction = "已上门更换主板", "客户确认恢复正常", 4
    db.session.commit()
    page = page_text(login("agent").get(f"/service/{record.id}"))
    assert "已上门更换主板" in page and "客户确认恢复正常" in page and page.count("bi-star-fill") == 4
    assert 'id="edit-service-request"' not in page
