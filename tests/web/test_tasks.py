"""The task page: form, record, diagram, history; claim, release, save, complete, reassign."""
from __future__ import annotations

import html
import json
import re

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, OpportunityStatus, ProcessEvent, TaskStatus

from .helpers import open_task, page_text


def form_spec(page: str) -> dict:
    """The task form the page hands to the form-js viewer: definition, data, errors."""
    match = re.search(r'<script type="application/json" id="task-form-definition">(.*?)</script>', page, re.S)
    assert match, "the page has no task form"
    return json.loads(html.unescape(match.group(1)))


def test_task_page_shows_form_record_diagram_and_history(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")
    response = login("supervisor1").get(f"/tasks/{task.id}")
    page = page_text(response)
    assert response.status_code == 200
    assert "指派销售机会" in page
    spec = form_spec(page)
    assert spec["schema"]["id"] == "assign_opportunity" and not spec["readonly"]
    offered = {option["value"] for option in spec["data"]["options.account_managers"]}
    assert users["manager1"].id in offered
    assert users["manager2"].id not in offered  # another department's manager is no choice
    assert "form-viewer.umd.js" in page and "task_form.js" in page
    assert 'id="record-card"' in page and f'href="/opportunities/{opportunity.id}"' in page
    assert 'data-bpmn-diagram="diagram-data"' in page and "bpmn-navigated-viewer.production.min.js" in page
    assert '"current": ["assign"]' in page and "bpmn:definitions" in page
    assert "发起流程" in page  # the history table
    # Offered to the supervisor's role: the form is his to fill now; submitting takes the task, no claim step.
    assert 'id="task-offered"' in page and 'id="claim-button"' not in page
    assert 'id="complete-button"' in page and 'id="save-button"' in page
    assert 'id="reassign-form"' not in page


def test_completing_the_assign_task(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")
    browser = login("supervisor1")
    response = browser.post(f"/tasks/{task.id}/complete",
                            data={"assignee_id": str(users["manager1"].id), "comment": "请尽快跟进"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.ASSIGNED and opportunity.assignee_id == users["manager1"].id
    assert "“指派销售机会”已提交" in page_text(browser.get("/"))

    plan = open_task(opportunity, "make_plan")
    manager_page = page_text(login("manager1").get(f"/tasks/{plan.id}"))
    assert "请尽快跟进" in manager_page and "王主管" in manager_page


def test_missing_assignee_shows_the_field_error_and_changes_nothing(login, new_opportunity):
    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")
    response = login("supervisor1").post(f"/tasks/{task.id}/complete", data={"assignee_id": "", "comment": "x"})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="assignee_id"' in page and "请选择客户经理" in page
    assert form_spec(page)["errors"] == {"assignee_id": ["请选择客户经理"]}
    db.session.refresh(task)
    assert task.status == TaskStatus.OPEN and task.assignee_id is None
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.UNASSIGNED


def _assigned(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    login("supervisor1").post(f"/tasks/{open_task(opportunity, 'assign').id}/complete",
                              data={"assignee_id": users["manager1"].id})
    return opportunity, open_task(opportunity, "make_plan")


def test_bad_plan_date_is_shown_next_to_its_row(login, new_opportunity, users):
    opportunity, plan = _assigned(login, new_opportunity, users)
    browser = login("manager1")
    submitted = {"plan_items": [{"date": "2026-12-01", "content": "电话拜访"},
                                {"date": "2026/12/08", "content": "上门演示"}]}
    response = browser.post(f"/tasks/{plan.id}/complete", data={"form_data": json.dumps(submitted)})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="plan_items.1.date"' in page and "日期格式应为 YYYY-MM-DD" in page
    assert "开发计划 第 2 行 · 日期" in page
    assert 'data-field-error="plan_items.0.date"' not in page
    spec = form_spec(page)
    assert spec["data"]["plan_items"] == submitted["plan_items"]  # what the user typed is kept
    assert spec["errors"] == {"plan_items.1.date": ["日期格式应为 YYYY-MM-DD"]}
    db.session.refresh(opportunity)
    assert opportunity.plan_items == []
    assert open_task(opportunity, "make_plan").id == plan.id


def test_double_submit_gets_the_conflict_message(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")
    browser = login("supervisor1")
    first = browser.post(f"/tasks/{task.id}/complete", data={"assignee_id": users["manager1"].id})
    assert first.status_code == 302
    second = browser.post(f"/tasks/{task.id}/complete", data={"assignee_id": users["manager3"].id},
                          follow_redirects=True)
    assert second.request.path == "/"
    assert "此任务已由王主管完成" in page_text(second)
    db.session.refresh(opportunity)
    assert opportunity.assignee_id == users["manager1"].id
    completions = db.session.scalars(select(ProcessEvent).where(ProcessEvent.action == "completed_task")).all()
    assert len(completions) == 1


def test_saving_an_offered_task_takes_it_and_release_gives_it_back(login, new_opportunity, users):
    task = open_task(new_opportunity("manager1"), "assign")
    browser = login("supervisor1")
    response = browser.post(f"/tasks/{task.id}/save", data={"form_data": "{}"}, follow_redirects=True)
    assert "已保存，此任务现在由您处理" in page_text(response) and 'id="release-button"' in page_text(response)
    assert 'id="task-offered"' not in page_text(response)
    db.session.refresh(task)
    assert task.assignee_id == users["supervisor1"].id
    assert f'href="/tasks/{task.id}"' in page_text(browser.get("/?view=mine"))

    other = page_text(login("director").get(f"/tasks/{task.id}"))
    assert 'id="task-readonly"' in other and "王主管" in other

    browser.post(f"/tasks/{task.id}/release")
    db.session.refresh(task)
    assert task.assignee_id is None


def test_plan_then_results_then_success_creates_the_customer(login, new_opportunity, users):
    opportunity, plan = _assigned(login, new_opportunity, users)
    browser = login("manager1")
    draft = {"plan_items": [{"date": "2026-12-01", "content": "电话拜访"}]}
    saved = browser.post(f"/tasks/{plan.id}/save", data={"form_data": json.dumps(draft)}, follow_redirects=True)
    assert "已保存" in page_text(saved)
    assert form_spec(page_text(saved))["data"]["plan_items"] == draft["plan_items"]  # the draft reopens

    browser.post(f"/tasks/{plan.id}/complete", data={
        "plan_items-0-date": "2026-12-01", "plan_items-0-content": "电话拜访，确认需求",
        "plan_items-1-date": "2026-12-08", "plan_items-1-content": "上门演示"})
    execute = open_task(opportunity, "execute_plan")
    db.session.refresh(opportunity)
    page = page_text(browser.get(f"/tasks/{execute.id}"))
    rows = form_spec(page)["data"]["plan_results"]
    assert [row["content"] for row in rows] == ["电话拜访，确认需求", "上门演示"]
    assert form_spec(page)["schema"]["id"] == "execute_plan" and 'id="record-plan"' in page

    for result in ("客户有意向", "客户有明确意向"):
        browser.post(f"/tasks/{execute.id}/save", data={
            "form_data": json.dumps({"plan_results": [{"result": result}, {"result": ""}]})})
    no_decision = browser.post(f"/tasks/{execute.id}/complete", data={
        "form_data": json.dumps({"plan_results": [{"result": "客户有明确意向"}, {"result": ""}]})})
    assert no_decision.status_code == 422 and 'data-field-error="decision"' in page_text(no_decision)

    done = browser.post(f"/tasks/{execute.id}/complete", data={
        "form_data": json.dumps({"plan_results": [{"result": "客户有明确意向"}, {"result": "演示成功"}],
                                 "decision": "success"}), "comment": "签约"})
    assert done.status_code == 302
    db.session.refresh(opportunity)
    assert opportunity.status == OpportunityStatus.SUCCEEDED
    customer = db.session.scalar(select(Customer).where(Customer.opportunity_id == opportunity.id))
    customers_page = page_text(browser.get("/customers/"))
    assert customer.number in customers_page and "杭州测试科技有限公司" in customers_page
    detail = page_text(browser.get(f"/opportunities/{opportunity.id}"))
    assert 'id="linked-customer"' in detail and "演示成功" in detail and "签约" in detail


def test_unreadable_form_data_is_a_clear_error(login, new_opportunity, users):
    task = open_task(new_opportunity("manager1"), "assign")
    browser = login("supervisor1")
    for raw in ("{not json", "[" * 5000 + "]" * 5000, json.dumps({"assignee_id": users["manager1"].id, "x": 1})):
        response = browser.post(f"/tasks/{task.id}/complete", data={"form_data": raw})
        assert response.status_code == 422
    db.session.refresh(task)
    assert task.status == TaskStatus.OPEN


def test_supervisor_reassigns_a_plan_task(login, new_opportunity, users):
    opportunity, plan = _assigned(login, new_opportunity, users)
    browser = login("supervisor1")
    page = page_text(browser.get(f"/tasks/{plan.id}"))
    assert 'id="reassign-form"' in page
    assert 'id="reassign-form"' not in page_text(login("manager1").get(f"/tasks/{plan.id}"))

    response = browser.post(f"/tasks/{plan.id}/reassign",
                            data={"assignee_id": users["manager3"].id, "comment": "李明休假"})
    assert response.status_code == 302
    db.session.refresh(plan)
    assert plan.assignee_id == users["manager3"].id
    missing = browser.post(f"/tasks/{plan.id}/reassign", data={"assignee_id": ""})
    assert missing.status_code == 422 and "请选择转派对象" in page_text(missing)


def test_someone_elses_task_is_a_404_page(login, new_opportunity):
    task = open_task(new_opportunity("manager1"), "assign")
    browser = login("supervisor2")
    response = browser.get(f"/tasks/{task.id}")
    assert response.status_code == 404 and "任务不存在或您无权查看" in page_text(response)
    assert browser.post(f"/tasks/{task.id}/complete", data={"assignee_id": "1"}).status_code == 404


def test_a_completed_task_says_who_completed_it_instead_of_a_form(login, new_opportunity, users):
    from bpm_crm.services import human_tasks

    opportunity = new_opportunity("manager1")
    task = open_task(opportunity, "assign")
    human_tasks.complete_task(task_id=task.id, user=users["supervisor1"], data={"assignee_id": users["manager1"].id})
    page = page_text(login("supervisor1").get(f"/tasks/{task.id}"))
    closed = re.search(r'<div class="alert alert-secondary mb-0" id="task-closed">(.*?)</div>', page, re.S)
    assert closed and users["supervisor1"].full_name in closed.group(1) and "完成" in closed.group(1)


def test_an_over_long_comment_is_refused_not_cut(login, new_opportunity, users):
    """A comment the browser's limit would stop, posted anyway: refused with the reason, nothing done or kept."""
    opportunity, plan = _assigned(login, new_opportunity, users)
    task = open_task(new_opportunity("manager1"), "assign")
    browser = login("supervisor1")
    too_long = "很" * 2001
    refused = browser.post(f"/tasks/{task.id}/complete",
                           data={"assignee_id": str(users["manager1"].id), "comment": too_long})
    assert refused.status_code == 422 and "意见最多 2000 个字符" in page_text(refused)
    db.session.refresh(task)
    assert task.status == TaskStatus.OPEN
    moved = browser.post(f"/tasks/{plan.id}/reassign", data={"assignee_id": users["manager3"].id,
                                                              "comment": too_long})
    assert moved.status_code == 422 and "意见最多 2000 个字符" in page_text(moved)
    db.session.refresh(plan)
    assert plan.assignee_id == users["manager1"].id
    assert not db.session.scalars(select(ProcessEvent).where(ProcessEvent.comment.like("很很很%"))).all()
    # Exactly the limit as the comment box counts it — a line break one character — is kept whole, although the
    # browser sends each line break as two.
    within = "很" * 1000 + "\r\n" * 500 + "很" * 499
    done = browser.post(f"/tasks/{task.id}/complete",
                        data={"assignee_id": str(users["manager1"].id), "comment": within})
    assert done.status_code == 302
    assert db.session.scalar(select(ProcessEvent.comment).where(
        ProcessEvent.human_task_id == task.id, ProcessEvent.action == "completed_task")) == within.replace("\r\n", "\n")
