"""An opportunity from creation to customer, through the pages and their form-js task forms, as two people."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from playwright.sync_api import Page, Route, expect

from bpm_crm.services.demo import DEMO_PASSWORD

CUSTOMER = "杭州浏览器测试有限公司"
WIDE, NARROW = 1440, 1024


def sign_in(browser, base_url: str, username: str, *, width: int = WIDE) -> Page:
    """A new browser context (own cookies, a zh-CN browser) signed in through the login form."""
    context = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    expect(page.locator(".alert-success")).to_contain_text("欢迎回来")
    return page


def open_task_from_inbox(page: Page, task_name: str, tab: str = "mine") -> None:
    page.goto(f"/?view={tab}")
    row = page.locator("tr", has_text=CUSTOMER).filter(has=page.locator("a", has_text=task_name))
    row.locator("a", has_text=task_name).click()
    expect(page.locator("#task-title")).to_contain_text(task_name)
    wait_for_form(page)


def wait_for_form(page: Page) -> None:
    expect(page.locator("#task-form-container.is-loaded")).to_be_visible()


def wait_for_diagram(page: Page, step: str) -> None:
    expect(page.locator(".diagram.is-loaded")).to_be_visible()
    expect(page.locator(f'.djs-element.step-current[data-element-id="{step}"]')).to_have_count(1)


def _by_field_id(field_id: str, row: int | None, part: str) -> str:
    """form-js's DOM id of a field (and of its row in a list) ends so: fjs-form-<form>-<id>_<row><part>."""
    suffix = f"-{field_id}" + (f"_{row}" if row is not None else "") + part
    return f'[id$="{suffix}"]'


def field(page: Page, field_id: str, row: int | None = None, part: str = ""):
    """A form-js input by the field's id in the definition."""
    return page.locator(f"#task-form-container {_by_field_id(field_id, row, part)}")


def field_box(page: Page, field_id: str, row: int | None = None, part: str = ""):
    """The whole form-js field (label, input, errors) around that input."""
    fields = page.locator("#task-form-container .fjs-form-field:not(.fjs-form-field-grouplike)")
    return fields.filter(has=page.locator(_by_field_id(field_id, row, part)))


def shoot(page: Page, artifacts: Path, name: str, *, narrow: bool = False) -> None:
    """A full-page screenshot, and the same page at the narrow width when asked."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    if narrow:
        page.set_viewport_size({"width": NARROW, "height": 900})
        page.screenshot(path=str(artifacts / f"{name}-{NARROW}.png"), full_page=True)
        page.set_viewport_size({"width": WIDE, "height": 900})


def break_second_date(route: Route) -> None:
    """What a client that checks nothing would send: the second plan item with an impossible date."""
    fields = parse_qs(route.request.post_data or "", keep_blank_values=True)
    data = json.loads(fields["form_data"][0])
    data["plan_items"][1]["date"] = "2030-02-30"
    fields["form_data"] = [json.dumps(data, ensure_ascii=False)]
    route.continue_(post_data=urlencode(fields, doseq=True))


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
    shoot(manager, artifacts, "01-opportunity-created")

    # supervisor1 finds it in 待认领 and assigns it to 李明 with the form's searchable select
    supervisor.goto("/")
    supervisor.click("#tab-claimable")
    expect(supervisor.locator("tr", has_text=CUSTOMER)).to_have_count(1)
    shoot(supervisor, artifacts, "02-inbox-claimable")
    open_task_from_inbox(supervisor, "指派销售机会", tab="claimable")
    wait_for_diagram(supervisor, "assign")
    expect(supervisor.locator("#record-card")).to_contain_text(CUSTOMER)
    assignee = field(supervisor, "assign_assignee")
    expect(assignee).to_have_attribute("placeholder", "输入以搜索…")
    assignee.fill("李")
    expect(supervisor.locator(".fjs-dropdownlist-item")).to_have_text(["李明（销售一部）"])
    supervisor.locator(".fjs-dropdownlist-item", has_text="李明").click()
    expect(assignee).to_have_value("李明（销售一部）")
    supervisor.fill("#comment", "请本周内联系客户")
    shoot(supervisor, artifacts, "03-assign-task")
    supervisor.dblclick("#complete-button")  # a double click sends the form once
    expect(supervisor).to_have_url(re.compile(r"/$"))
    expect(supervisor.locator(".alert-success")).to_contain_text("已提交")
    expect(supervisor.locator(".alert-warning")).to_have_count(0)

    # manager1's plan: client checks first (nothing is sent, the buttons stay usable)
    open_task_from_inbox(manager, "制定开发计划")
    wait_for_diagram(manager, "make_plan")
    manager.click("#complete-button")
    expect(field_box(manager, "plan_item_date", 0, "-date").locator(".fjs-form-field-error")).to_have_text("请填写日期")
    expect(field_box(manager, "plan_item_content", 0).locator(".fjs-form-field-error")).to_have_text("请填写计划内容")
    expect(manager.locator("#complete-button")).to_be_enabled()
    expect(manager.locator("#task-title")).to_contain_text("制定开发计划")
    shoot(manager, artifacts, "04-plan-client-errors")

    # the first date from the (Chinese) calendar, a second row added and its date typed
    first_date = field(manager, "plan_item_date", 0, "-date")
    first_date.click()
    calendar = manager.locator(".flatpickr-calendar.open")
    expect(calendar.locator(".flatpickr-weekday").first).to_have_text("周一")
    calendar.locator(".cur-year").fill("2030")
    calendar.locator(".cur-year").press("Enter")
    calendar.locator(".flatpickr-monthDropdown-months").select_option(label="三月")
    calendar.locator(".flatpickr-day:not(.prevMonthDay):not(.nextMonthDay)", has_text=re.compile(r"^2$")).click()
    expect(first_date).to_have_value("2030/3/2")
    field(manager, "plan_item_content", 0).fill("电话拜访，确认需求和预算")
    manager.get_by_role("button", name="添加一行").click()
    expect(manager.locator(".fjs-repeat-row-remove")).to_have_count(2)
    # Typed once its date picker is up (it sets up after the row appears and would reset what was typed before).
    field(manager, "plan_item_date", 1, "-date").click()
    expect(manager.locator(".flatpickr-calendar.open")).to_have_count(1)
    field(manager, "plan_item_date", 1, "-date").fill("2030/3/9")
    field(manager, "plan_item_date", 1, "-date").press("Tab")
    expect(field(manager, "plan_item_date", 1, "-date")).to_have_value("2030/3/9")  # taken before typing on
    field(manager, "plan_item_content", 1).fill("上门演示产品")
    expect(field(manager, "plan_item_content", 1)).to_have_value("上门演示产品")
    expect(manager.locator(".fjs-form-field-error")).to_have_count(0)
    shoot(manager, artifacts, "05-plan-filled", narrow=True)

    # a draft keeps both rows; reopened from the inbox it is still there
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    wait_for_form(manager)
    open_task_from_inbox(manager, "制定开发计划")
    expect(field(manager, "plan_item_date", 0, "-date")).to_have_value("2030/3/2")
    expect(field(manager, "plan_item_date", 1, "-date")).to_have_value("2030/3/9")
    expect(field(manager, "plan_item_content", 1)).to_have_value("上门演示产品")
    shoot(manager, artifacts, "06-plan-draft-reopened")

    # the server judges what arrives: a bad second date is shown on row 2's date, the rest is kept
    manager.route("**/tasks/*/complete", break_second_date)
    manager.click("#complete-button")
    expect(manager.locator('#form-errors [data-field-error="plan_items.1.date"]')).to_contain_text(
        "开发计划 第 2 行 · 日期")
    manager.unroute("**/tasks/*/complete")
    wait_for_form(manager)
    second_date = field_box(manager, "plan_item_date", 1, "-date")
    expect(second_date.locator(".fjs-form-field-error")).to_have_text("日期格式应为 YYYY-MM-DD")
    expect(field_box(manager, "plan_item_date", 0, "-date").locator(".fjs-form-field-error")).to_have_count(0)
    expect(field(manager, "plan_item_date", 0, "-date")).to_have_value("2030/3/2")
    expect(field(manager, "plan_item_content", 0)).to_have_value("电话拜访，确认需求和预算")
    expect(field(manager, "plan_item_content", 1)).to_have_value("上门演示产品")
    shoot(manager, artifacts, "07-plan-server-error")
    manager.locator('#form-errors [data-field-error="plan_items.1.date"]').click()  # the summary leads to the field
    expect(field(manager, "plan_item_date", 1, "-date")).to_be_focused()
    field(manager, "plan_item_date", 1, "-date").fill("2030/3/9")
    field(manager, "plan_item_date", 1, "-date").press("Tab")
    expect(second_date.locator(".fjs-form-field-error")).to_have_count(0)
    manager.click("#complete-button")
    expect(manager).to_have_url(re.compile(r"/$"))
    expect(manager.locator(".alert-success")).to_contain_text("“制定开发计划”已提交")

    # results: 开发成功 without any result is refused by the server, on the choice, with the choice kept
    open_task_from_inbox(manager, "执行开发计划")
    wait_for_diagram(manager, "execute_plan")
    expect(field(manager, "result_content", 0)).to_have_value("电话拜访，确认需求和预算")
    expect(field(manager, "result_content", 1)).to_have_value("上门演示产品")
    manager.get_by_role("radio", name="开发成功").check()
    manager.fill("#comment", "已签约")
    manager.click("#complete-button")
    decision = manager.locator("#task-form-container .fjs-form-field-radio")
    expect(decision.locator(".fjs-form-field-error")).to_have_text("开发成功前请至少记录一条执行效果")
    expect(manager.locator('#form-errors [data-field-error="decision"]')).to_be_visible()
    expect(manager.get_by_role("radio", name="开发成功")).to_be_checked()
    expect(manager.locator("#comment")).to_have_value("已签约")
    shoot(manager, artifacts, "08-execute-server-error", narrow=True)

    # results item by item, saved twice, then submitted
    field(manager, "result_result", 0).fill("客户有意向")
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    wait_for_form(manager)
    expect(field(manager, "result_result", 0)).to_have_value("客户有意向")
    field(manager, "result_result", 0).fill("客户有明确意向，预算已批")
    field(manager, "result_result", 1).fill("演示顺利，客户满意")
    manager.click("#save-button")
    expect(manager.locator(".alert-success")).to_contain_text("已保存")
    wait_for_form(manager)
    expect(field(manager, "result_result", 1)).to_have_value("演示顺利，客户满意")
    expect(manager.get_by_role("radio", name="开发成功")).to_be_checked()
    manager.fill("#comment", "已签约")
    shoot(manager, artifacts, "09-execute-plan")
    manager.click("#complete-button")
    expect(manager).to_have_url(re.compile(r"/$"))
    expect(manager.locator(".alert-success")).to_contain_text("“执行开发计划”已提交")

    # the new customer is in manager1's list, with the opportunity's contact
    manager.click("#nav-customers")
    expect(manager.locator("#customer-table")).to_contain_text(CUSTOMER)
    shoot(manager, artifacts, "10-customers")
    manager.locator("#customer-table a", has_text=CUSTOMER).click()
    expect(manager.locator("#customer-title")).to_contain_text(CUSTOMER)
    expect(manager.locator("#section-contacts")).to_contain_text("钱经理")
    shoot(manager, artifacts, "11-customer")
    manager.click("#nav-opportunities")
    manager.locator("tr", has_text=CUSTOMER).locator("a", has_text=CUSTOMER).click()
    expect(manager.locator("#opportunity-title")).to_contain_text("开发成功")
    expect(manager.locator("#linked-customer")).to_contain_text(CUSTOMER)
    expect(manager.locator("#plan-items")).to_contain_text("演示顺利，客户满意")
    shoot(manager, artifacts, "12-opportunity-succeeded")

    for page in (manager, supervisor):
        page.context.close()
