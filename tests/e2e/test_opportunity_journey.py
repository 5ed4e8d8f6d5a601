"""An opportunity from creation to customer, through the pages, as three people in three browsers."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from bpm_crm.services.demo import DEMO_PASSWORD

CUSTOMER = "杭州浏览器测试有限公司"


def sign_in(browser, base_url: str, username: str) -> Page:
    """A new browser context (own cookies) signed in through the login form."""
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    expect(page.locator(".alert-success")).to_contain_text("欢迎回来")
    return page


def open_task_from_inbox(page: Page, task_name: str) -> None:
    row = page.locator("tr", has_text=CUSTOMER).filter(has=page.locator("a", has_text=task_name))
    row.locator("a", has_text=task_name).click()
    expect(page.locator("#task-title")).to_contain_text(task_name)


def wait_for_diagram(page: Page, step: str) -> None:
    expect(page.locator(".diagram.is-loaded")).to_be_visible()
    expect(page.locator(f'.djs-element.step-current[data-element-id="{step}"]')).to_have_count(1)


@pytest.mark.browser
def test_opportunity_journey(browser, live_server, artifacts):
    manager = sign_in(browser, live_server, "manager1")
    supervisor = sign_in(browser, live_server, "supervisor1")

    # manager1 records the opportunity through the form
    manager.click("#nav-opportunities")
    manager.click("#new-opportunity")
    manager.fill("#customer_name", CUSTOMER)
    manager.fill("#probability", "70")
    manager.fill("#summary", "采购三百套办公软件")
    manager.fill("#source", "展会")
    manager.fill("#contact", "钱经理")
    manager.fill("#contact_phone", "13800138001")
    manager.fill("#description", "客户在展会上表示有意向更换现有办公系统。")
    manager.click("#opportunity-submit")
    expect(manager).to_have_url(re.compile(r"/opportunities/\d+$"))
    expect(manager.locator("#opportunity-title")).to_contain_text("未指派")
    expect(manager.locator("#open-task")).to_contain_text("指派销售机会")
    manager.screenshot(path=str(artifacts / "01-opportunity-created.png"), full_page=True)

    # supervisor1 finds it in 待认领 and assigns it to manager1 from the task page
    supervisor.goto("/")
    supervisor.click("#tab-claimable")
    expect(supervisor.locator("tr", has_text=CUSTOMER)).to_have_count(1)
    supervisor.screenshot(path=str(artifacts / "02-inbox-claimable.png"), full_page=True)
    open_task_from_inbox(supervisor, "指派销售机会")
    wait_for_diagram(supervisor, "assign")
    expect(supervisor.locator("#record-card")).to_contain_text(CUSTOMER)
    supervisor.select_option("#assignee_id", label="李明（销售一部）")
    supervisor.fill("#comment", "请本周内联系客户")
    supervisor.screenshot(path=str(artifacts / "03-assign-task.png"), full_page=True)
    supervisor.click("#complete-button")
    expect(supervisor).to_have_url(re.compile(r"/$"))
    expect(supervisor.locator(".alert-success")).to_contain_text("已提交")

    # manager1 drafts a two-item plan, saves it, then submits it
    manager.click("#nav-inbox")
    open_task_from_inbox(manager, "制定开发计划")
    wait_for_diagram(manager, "make_plan")
    manager.fill('input[name="plan_items-0-date"]', "2030-03-02")
    manager.fill('textarea[name="plan_items-0-content"]', "电话拜访，确认需求和预算")
    manager.click("#add-plan-row")
    manager.fill('input[name="plan_items-1-date"]', "2030-03-09")
    manager.fill('textarea[name="plan_items-1-content"]', "上门演示产品")
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    expect(manager.locator(".saved-date")).to_have_count(2)
    manager.screenshot(path=str(artifacts / "04-plan-saved.png"), full_page=True)
    manager.click("#complete-button")
    expect(manager).to_have_url(re.compile(r"/$"))

    # manager1 records results (saving twice), chooses 开发成功 and submits
    open_task_from_inbox(manager, "执行开发计划")
    wait_for_diagram(manager, "execute_plan")
    manager.fill('textarea[name="plan_results-0-result"]', "客户有意向")
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    expect(manager.locator('textarea[name="plan_results-0-result"]')).to_have_value("客户有意向")
    manager.fill('textarea[name="plan_results-0-result"]', "客户有明确意向，预算已批")
    manager.fill('textarea[name="plan_results-1-result"]', "演示顺利，客户满意")
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    manager.click('label[for="decision-success"]')
    expect(manager.locator("#decision-success")).to_be_checked()
    manager.fill("#comment", "已签约")
    manager.screenshot(path=str(artifacts / "05-execute-plan.png"), full_page=True)
    manager.click("#complete-button")
    expect(manager).to_have_url(re.compile(r"/$"))

    # the new customer is in manager1's customer list, linked from the opportunity
    manager.click("#nav-customers")
    expect(manager.locator("#customer-table")).to_contain_text(CUSTOMER)
    manager.screenshot(path=str(artifacts / "06-customers.png"), full_page=True)
    manager.click("#nav-opportunities")
    manager.locator("tr", has_text=CUSTOMER).locator("a", has_text=CUSTOMER).click()
    expect(manager.locator("#opportunity-title")).to_contain_text("开发成功")
    expect(manager.locator("#linked-customer")).to_contain_text(CUSTOMER)
    expect(manager.locator("#plan-items")).to_contain_text("演示顺利，客户满意")
    manager.screenshot(path=str(artifacts / "07-opportunity-succeeded.png"), full_page=True)

    for page in (manager, supervisor):
        page.context.close()
