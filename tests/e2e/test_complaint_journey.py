"""A complaint from the call to its close, through the pages: the agent records it, the service supervisor
dispatches it to two departments, both heads sign in their inbox, the supervisor decides, the return visit
closes it. Screenshots go to test-artifacts/ (and to /tmp/shots when it exists)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bpm_crm.extensions import db
from bpm_crm.models import Customer, User

from .test_opportunity_journey import field, sign_in, wait_for_form

CUSTOMER = "苏州恒达机械制造厂"
SUMMARY = "新装设备三天两次停机"
SHOTS = Path("/tmp/shots")


def shoot(page: Page, artifacts: Path, name: str) -> None:
    path = artifacts / f"issue10_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if SHOTS.is_dir():
        shutil.copy(path, SHOTS / path.name)


def open_from_inbox(page: Page, task_name: str) -> None:
    page.goto("/?view=todo")
    row = page.locator("tr", has_text=SUMMARY).filter(has=page.locator("a", has_text=task_name))
    row.locator("a", has_text=task_name).click()
    expect(page.locator("#task-title")).to_contain_text(task_name)
    wait_for_form(page)


def complete(page: Page, message: str) -> None:
    page.click("#complete-button")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".alert-success")).to_contain_text(message)


@pytest.mark.browser
def test_complaint_journey(app, browser, live_server, artifacts):
    owner = db.session.query(User).filter_by(username="manager1").one()
    db.session.add(Customer(name=CUSTOMER, owner_id=owner.id, created_by_id=owner.id))
    db.session.commit()
    db.session.remove()

    agent = sign_in(browser, live_server, "agent")
    agent.click("#nav-service")
    agent.click("#new-service-request")
    agent.select_option("#type", "投诉")
    option = agent.locator("#customer_id option", has_text=CUSTOMER).get_attribute("value")
    agent.select_option("#customer_id", option)
    agent.fill("#summary", SUMMARY)
    agent.fill("#detail", "客户来电：上周安装的数控设备三天内两次停机，影响生产，要求上门检修并赔偿停工损失。")
    agent.click("#service-submit")
    expect(agent).to_have_url(re.compile(r"/service/\d+$"))
    request_url = agent.url
    expect(agent.locator("#service-title")).to_contain_text("新创建")
    expect(agent.locator("#service-waiting")).to_contain_text("受理投诉并指定责任部门")
    shoot(agent, artifacts, "01_recorded")

    lead = sign_in(browser, live_server, "service_lead")
    open_from_inbox(lead, "受理投诉并指定责任部门")
    expect(lead.locator("#record-card")).to_contain_text(SUMMARY)
    lead.get_by_label("质量部（吴质量）").check()
    lead.get_by_label("生产部（冯生产）").check()
    lead.locator("#task-form-container textarea").first.fill("请核实安装调试记录和设备质量，两日内给出意见。")
    shoot(lead, artifacts, "02_dispatch")
    complete(lead, "已提交")

    for username, comment in (("quality", "质检记录显示安装后未做负载测试，本部门承担主要责任，同意赔偿。"),
                              ("production", "设备出厂检验合格，同意客服主管的处理意见，配合上门检修。")):
        head = sign_in(browser, live_server, username)
        expect(head.locator("#nav-bell")).to_be_visible()
        open_from_inbox(head, "责任部门会签")
        head.get_by_role("radio", name="同意", exact=True).check()
        head.locator("#task-form-container textarea").last.fill(comment)
        if username == "quality":
            shoot(head, artifacts, "03_sign_off")
        complete(head, "已提交")
        if username == "production":  # the sign-off is over: he no longer reads the request
            head.goto(request_url)
            expect(head.locator("h1")).to_contain_text("页面不存在")
        head.context.close()

    lead.goto(request_url)
    expect(lead.locator("#sign-off")).to_contain_text("全部同意")
    expect(lead.locator("#sign-off")).to_contain_text("质检记录显示安装后未做负载测试")
    shoot(lead, artifacts, "04_signed_side_by_side")
    lead.click("#open-task-compensate")
    wait_for_form(lead)
    lead.locator("#task-form-container textarea").first.fill("上门更换主控板并免费延保一年；补偿客户停工损失。")
    field(lead, "compensation_amount").fill("2000")
    field(lead, "compensation_deduction").fill("800")
    field(lead, "compensation_bearer").fill("质量")
    lead.locator(".fjs-dropdownlist-item", has_text="质量部").click()
    shoot(lead, artifacts, "05_compensation")
    complete(lead, "已提交")

    open_from_inbox(agent, "回访客户")
    agent.get_by_role("radio", name="5 非常满意").check()
    agent.locator("#task-form-container textarea").last.fill("客户确认设备运行正常，对处理结果满意。")
    complete(agent, "已提交")
    agent.goto(request_url)
    expect(agent.locator("#service-title")).to_contain_text("已归档")
    expect(agent.locator("#compensation")).to_contain_text("2,000.00")
    expect(agent.locator("#sla-resolution")).to_be_visible()
    shoot(agent, artifacts, "06_closed")
    lead.goto(request_url)
    lead.click("#nav-bell")
    expect(lead.locator(".bell-menu")).to_contain_text("已办结")
    shoot(lead, artifacts, "07_bell")
    agent.goto("/service/")
    expect(agent.locator("#sla-summary")).to_contain_text("100.0%")
    shoot(agent, artifacts, "08_list")

    for page in (agent, lead):
        page.context.close()
