"""Opportunity pages: list, create with field errors, detail, edit, delete, scope."""
from __future__ import annotations

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Opportunity

from .helpers import VALUES, open_task, page_text


def _count() -> int:
    return db.session.scalar(select(func.count(Opportunity.id)))


def test_create_through_the_form_starts_the_process(login):
    browser = login("manager1")
    assert 'id="opportunity-form"' in page_text(browser.get("/opportunities/new"))
    response = browser.post("/opportunities/new", data=VALUES)
    assert response.status_code == 302
    opportunity = db.session.scalar(select(Opportunity))
    assert response.headers["Location"] == f"/opportunities/{opportunity.id}"
    assert opportunity.created_by.username == "manager1" and opportunity.process_instance_id
    page = page_text(browser.get(response.headers["Location"]))
    assert "已创建" in page and "指派销售机会" in page  # flash and the open step
    assert 'id="edit-opportunity"' in page and 'id="delete-dialog"' in page

    listing = page_text(browser.get("/opportunities/?q=杭州测试"))
    assert opportunity.number in listing and "未指派" in listing
    assert opportunity.number not in page_text(browser.get("/opportunities/?status=开发成功"))


def test_missing_fields_and_probability_101_show_field_errors_and_create_nothing(login):
    browser = login("manager1")
    response = browser.post("/opportunities/new", data={**VALUES, "customer_name": "", "summary": "",
                                                        "probability": "101"})
    page = page_text(response)
    assert response.status_code == 422
    for field, message in (("customer_name", "请填写客户名称"), ("summary", "请填写概要"),
                           ("probability", "成功机率应在 0 到 100 之间")):
        assert f'data-field-error="{field}"' in page and message in page
    assert 'value="钱经理"' in page  # the rest of the input is kept
    assert _count() == 0


def test_another_managers_opportunity_is_a_404_page(login, new_opportunity):
    opportunity = new_opportunity("manager2")
    response = login("manager1").get(f"/opportunities/{opportunity.id}")
    assert response.status_code == 404
    assert "销售机会不存在或您无权查看" in page_text(response)
    assert "<html" in page_text(response) and 'class="error-page' in page_text(response)


def test_only_the_creator_sees_edit_and_delete_and_the_post_is_checked(login, new_opportunity):
    opportunity = new_opportunity("manager1")
    supervisor = login("supervisor1")
    page = page_text(supervisor.get(f"/opportunities/{opportunity.id}"))
    assert 'id="delete-opportunity"' not in page and 'id="edit-opportunity"' not in page

    refused = supervisor.post(f"/opportunities/{opportunity.id}/delete", follow_redirects=True)
    assert "只有创建人可以修改或删除此销售机会" in page_text(refused)
    assert db.session.get(Opportunity, opportunity.id) is not None

    edit = supervisor.post(f"/opportunities/{opportunity.id}/edit", data={**VALUES, "summary": "改过"})
    assert edit.status_code == 403
    db.session.refresh(opportunity)
    assert opportunity.summary == VALUES["summary"]


def test_creator_edits_and_deletes_while_unassigned(login, new_opportunity):
    opportunity = new_opportunity("manager1")
    browser = login("manager1")
    form = page_text(browser.get(f"/opportunities/{opportunity.id}/edit"))
    assert 'value="杭州测试科技有限公司"' in form
    assert browser.post(f"/opportunities/{opportunity.id}/edit",
                        data={**VALUES, "probability": "80"}).status_code == 302
    db.session.refresh(opportunity)
    assert opportunity.probability == 80

    instance_id = opportunity.process_instance_id
    response = browser.post(f"/opportunities/{opportunity.id}/delete", follow_redirects=True)
    assert "已删除" in page_text(response)
    assert _count() == 0
    assert instance_id is not None


def test_assigned_opportunity_can_no_longer_be_changed(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    login("supervisor1").post(f"/tasks/{open_task(opportunity, 'assign').id}/complete",
                              data={"assignee_id": users["manager1"].id})
    browser = login("manager1")
    page = page_text(browser.get(f"/opportunities/{opportunity.id}"))
    assert 'id="delete-opportunity"' not in page and "已指派" in page
    plan = open_task(opportunity, "make_plan")
    assert f'href="/tasks/{plan.id}"' in page  # the open step links to its task
    response = browser.post(f"/opportunities/{opportunity.id}/delete", follow_redirects=True)
    assert "不能再修改或删除" in page_text(response)
    assert db.session.get(Opportunity, opportunity.id) is not None


def test_the_record_page_shows_when_its_open_step_is_due_and_whether_it_is_overdue(login, new_opportunity):
    from datetime import timedelta

    from bpm_crm import clock

    clock.freeze(clock.now() - timedelta(days=14))  # due two working days later: long past whatever the holidays
    late = new_opportunity("manager1")
    clock.unfreeze()
    fresh = new_opportunity("manager1", customer_name="新鲜公司")
    browser = login("supervisor1")

    def due(opportunity):
        """What the record page's open-step banner says of the step's due time."""
        banner = page_text(browser.get(f"/opportunities/{opportunity.id}")).split('id="open-task"')[1]
        return banner.split(f'data-task-due="{open_task(opportunity, "assign").id}"')[1].split("</div>")[0]

    assert "截止" in due(late) and "已超期" in due(late)
    assert "截止" in due(fresh) and "已超期" not in due(fresh)
    process = page_text(browser.get(f"/instances/{late.process_instance_id}"))
    assert "已超期" in process.split(f'data-task-due="{open_task(late, "assign").id}"')[1].split("</td>")[0]
