"""Someone copied on a task (抄送) sees its form filled in, read-only, and cannot send it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, TaskStatus
from bpm_crm.services import human_tasks, opportunities

from .test_opportunity_journey import CUSTOMER, NARROW, field, sign_in, wait_for_form


def _open_step(instance_id: int, bpmn_id: str) -> HumanTask:
    return db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == TaskStatus.OPEN)).one()


@pytest.fixture
def watched_plan(app, users) -> int:
    """manager1's plan, with a saved draft, copied to his colleague manager3."""
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name=CUSTOMER, probability=60, summary="采购办公软件", source="展会", contact="钱经理",
        contact_phone="13800138001", description="有意向更换办公系统"))
    instance_id = opportunity.process_instance_id
    human_tasks.complete_task(task_id=_open_step(instance_id, "assign").id, user=users["supervisor1"],
                              data={"assignee_id": users["manager1"].id})
    plan = _open_step(instance_id, "make_plan")
    rows = [{"date": "2030-03-02", "content": "电话拜访，确认需求和预算"},
            {"date": "2030-03-09", "content": "上门演示产品"}]
    human_tasks.save_draft(task_id=plan.id, user=users["manager1"], data={"plan_items": rows})
    human_tasks.add_watchers(task_id=plan.id, user=users["manager1"], user_ids=[users["manager3"].id])
    return plan.id


@pytest.mark.browser
def test_a_watcher_sees_the_task_form_read_only(browser, watched_plan, live_server, artifacts):
    page = sign_in(browser, live_server, "manager3")
    page.click("#user-menu")
    page.click("button[lang=en]")
    page.click("#tab-watched")
    page.locator("tr", has_text=CUSTOMER).locator(f'a[href="/tasks/{watched_plan}"]').click()
    wait_for_form(page)

    expect(page.locator("#task-readonly")).to_contain_text("李明")
    expect(page.locator("#task-form-container")).to_have_class("task-form is-loaded is-readonly")
    expect(field(page, "plan_item_date", 0, "-date")).to_have_value("2030/3/2")
    expect(field(page, "plan_item_content", 1)).to_have_value("上门演示产品")
    inputs = page.locator("#task-form-container input:not([type=hidden]), #task-form-container textarea, #comment")
    assert inputs.count() >= 5
    for one in inputs.all():
        expect(one).to_be_disabled()
    expect(page.locator("#complete-button")).to_be_disabled()
    expect(page.locator("#save-button")).to_have_count(0)
    expect(page.locator(".fjs-repeat-render-add")).to_be_hidden()
    expect(page.locator(".fjs-repeat-row-remove")).to_have_count(2)
    for remove in page.locator(".fjs-repeat-row-remove").all():
        expect(remove).to_be_hidden()
    page.screenshot(path=str(artifacts / "20-watcher-read-only-en.png"), full_page=True)
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.screenshot(path=str(artifacts / f"20-watcher-read-only-en-{NARROW}.png"), full_page=True)
    page.context.close()
