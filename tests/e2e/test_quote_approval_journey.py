"""A quote above both limits through its approval in the browser, as four people: submitted, approved by the
supervisor, handed by the director to the executive, rejected with a reason, revised and resubmitted, each
approver seeing what changed, approved, and its PDF downloaded."""
from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from bpm_crm.config import TestConfig
from bpm_crm.extensions import db
from bpm_crm.models import Customer
from bpm_crm.services import jobs, quote_approval, quotes

from .test_opportunity_journey import shoot, sign_in

CUSTOMER = "杭州审批旅程科技有限公司"


@pytest.fixture
def pdf_store(app, monkeypatch, tmp_path):
    """One attachments folder for this test's app (which prints the PDF) and the live server (which sends it)."""
    folder = str(tmp_path / "files")
    monkeypatch.setattr(TestConfig, "ATTACHMENTS_DIR", folder)
    monkeypatch.setitem(app.config, "ATTACHMENTS_DIR", folder)
    return folder


@pytest.fixture
def draft(app, users, pdf_store) -> dict[str, int]:
    """manager1's draft of 270,000 for his customer (both limits), and a colleague's quote already waiting."""
    ids = {}
    for owner, name in (("manager1", CUSTOMER), ("manager3", "宁波旅程测试物流有限公司")):
        customer = Customer(name=name, owner_id=users[owner].id)
        db.session.add(customer)
        db.session.flush()
        customer.number = f"KH{customer.id:06d}"
        ids[owner] = customer.id
    db.session.commit()
    quote = quotes.create_quote(user=users["manager1"], values={
        "customer_id": ids["manager1"], "name": "集团办公软件采购报价", "quote_date": date.today().isoformat()},
        lines=[{"product_name": "办公软件标准版", "quantity": 200, "unit_price": "1200.00", "discount_pct": "0"},
               {"product_name": "实施服务", "quantity": 1, "unit_price": "30000.00", "discount_pct": "0"}])
    other = quotes.create_quote(user=users["manager3"], values={
        "customer_id": ids["manager3"], "name": "仓储系统报价", "quote_date": date.today().isoformat()},
        lines=[{"product_name": "仓储管理系统", "quantity": 1, "unit_price": "60000.00"}])
    quote_approval.submit(quote_id=other.id, user=users["manager3"])
    return {"quote": quote.id, "line": quote.lines[0].id, "number": quote.number}


def open_approval(page: Page, step: str) -> None:
    """From the inbox's 待我审批 tab, the approval task of the journey's quote at `step`."""
    page.goto("/")
    page.click("#tab-approvals")
    row = page.locator(".inbox-table tbody tr", has_text=CUSTOMER)
    expect(row).to_have_count(1)
    row.locator("a", has_text=step).click()
    expect(page.locator("#task-title")).to_contain_text(step)
    expect(page.locator("#record-card")).to_contain_text(CUSTOMER)


def approve(page: Page, step: str, comment: str = "") -> None:
    if comment:
        page.fill("#decision-comment", comment)
    page.dblclick("#approve-button")  # a double click sends the decision once
    expect(page).to_have_url(re.compile(r"/\?view=approvals$"))
    expect(page.locator(".alert-success")).to_contain_text(f"已同意“{step}”")
    expect(page.locator(".alert-warning")).to_have_count(0)


def sees_what_changed(page: Page) -> None:
    changes = page.locator("#approval-changes")
    expect(changes).to_be_visible()
    expect(changes.locator('[data-change="changed"]')).to_contain_text("办公软件标准版")
    expect(changes.locator('[data-change="changed"] ins')).to_have_text(["5.00", "228,000.00"])  # discount, amount
    expect(changes.locator('[data-change="field"]', has_text="总金额")).to_contain_text("258,000.00")


@pytest.mark.browser
def test_quote_approval_journey(browser, draft, live_server, artifacts):
    manager = sign_in(browser, live_server, "manager1")
    supervisor = sign_in(browser, live_server, "supervisor1")
    director = sign_in(browser, live_server, "director")
    ceo = sign_in(browser, live_server, "ceo")
    quote_url = f"/quotes/{draft['quote']}"

    # The account manager submits the draft from its page; it is locked and waits for his supervisor.
    manager.goto(quote_url)
    expect(manager.locator("#approval-headline")).to_have_text("尚未提交审批")
    manager.click("#submit-quote")
    expect(manager.locator(".alert-success")).to_contain_text("已提交审批")
    expect(manager.locator("#quote-title")).to_contain_text("审批中")
    expect(manager.locator("#quote-locked")).to_be_visible()
    expect(manager.locator("#edit-quote")).to_have_count(0)
    expect(manager.locator("#approval-waiting")).to_contain_text("王主管")

    # The supervisor approves from 待我审批.
    supervisor.goto("/")
    expect(supervisor.locator("#count-approvals")).to_have_text("2")
    open_approval(supervisor, "主管审批")
    expect(supervisor.locator("#approval-changes")).to_have_count(0)
    approve(supervisor, "主管审批", "价格在权限内，同意")

    # The director hands his decision to the executive.
    open_approval(director, "销售总监审批")
    director.click("#more-actions")
    director.click("#open-transfer")
    director.locator("#transfer-to").select_option(label="张总（ceo）")
    director.fill("#transfer-comment", "金额较大，请张总定")
    shoot(director, artifacts, "quote-approval-transfer")
    director.click("#transfer-button")
    expect(director.locator(".alert-success")).to_contain_text("已转交给张总")

    # The executive rejects: first without a reason (asked for it, nothing sent), then with one.
    open_approval(ceo, "销售总监审批")
    expect(ceo.locator("#approval-trail")).to_contain_text("金额较大，请张总定")
    ceo.click("#reject-button")
    expect(ceo.locator("#reject-reason-needed")).to_be_visible()
    expect(ceo.locator("#task-title")).to_be_visible()
    ceo.fill("#decision-comment", "标准版折扣不够，请给客户 5% 折扣后再报")
    ceo.click("#reject-button")
    expect(ceo.locator(".alert-success")).to_contain_text("已拒绝")

    # The author reads why, changes the line and resubmits.
    manager.goto(quote_url)
    expect(manager.locator("#quote-rejected")).to_contain_text("张总拒绝了此报价")
    expect(manager.locator("#quote-rejected")).to_contain_text("5% 折扣")
    expect(manager.locator("#submit-quote")).to_contain_text("修改后重新提交")
    manager.click("#edit-quote")
    manager.click(f"#edit-line-{draft['line']}")
    manager.fill("#discount_pct", "5")
    manager.click("#line-submit")
    expect(manager.locator(".alert-success")).to_contain_text("报价明细已保存")
    expect(manager.locator("#quote-total")).to_contain_text("258,000.00")
    manager.click("#done-editing")
    manager.click("#submit-quote")
    expect(manager.locator(".alert-success")).to_contain_text("已重新提交审批")
    expect(manager.locator("#approval-trail-list")).to_contain_text("第 2 次提交")

    # Each approver sees what changed since the version he decided on, and approves.
    open_approval(supervisor, "主管审批")
    sees_what_changed(supervisor)
    shoot(supervisor, artifacts, "quote-approval-task-with-changes", narrow=True)
    supervisor.goto("/?view=approvals")
    expect(supervisor.locator(".inbox-table tbody tr")).to_have_count(2)
    shoot(supervisor, artifacts, "quote-approval-inbox")
    open_approval(supervisor, "主管审批")
    approve(supervisor, "主管审批")
    open_approval(director, "销售总监审批")
    sees_what_changed(director)
    approve(director, "销售总监审批")
    open_approval(ceo, "高管审批")
    sees_what_changed(ceo)
    approve(ceo, "高管审批", "同意")

    # Approved: the PDF is printed after the commit (the job queue runs here) and downloads from the page.
    manager.goto(quote_url)
    expect(manager.locator("#quote-title")).to_contain_text("已批准")
    assert jobs.run_due_jobs() >= 1
    manager.reload()
    link = manager.locator("#quote-pdf")
    expect(link).to_contain_text(f"报价单-{draft['number']}.pdf")
    with manager.expect_download() as download_info:
        link.click()
    assert download_info.value.suggested_filename == f"报价单-{draft['number']}.pdf"
    response = manager.request.get(link.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
    trail = manager.locator("#approval-trail-list")
    for text in ("转交给张总", "拒绝", "修改后重新提交", "高管审批"):
        expect(trail).to_contain_text(text)
    expect(manager.locator("#step-times tbody tr")).to_have_count(5)  # 2 steps, then 3 after resubmitting
    shoot(manager, artifacts, "quote-approval-quote-page", narrow=True)

    manager.goto("/?view=started")
    expect(manager.locator("#started-table tbody tr", has_text=CUSTOMER)).to_contain_text("已批准")
    shoot(manager, artifacts, "quote-approval-inbox-started")
