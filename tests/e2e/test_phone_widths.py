"""On a phone (390 px) the lists scroll sideways inside their cards instead of squeezing names to a letter a line,
the forms and record pages fit the screen, and no page is wider than it."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, TaskStatus
from bpm_crm.services import customers, opportunities, quotes, service_requests

from .test_opportunity_journey import sign_in, wait_for_form

PHONE = 390
NARROWEST_CELL = 80  # px: about five Chinese characters
OPPORTUNITY = dict(probability=40, summary="仓储管理系统升级改造", source="展会", contact="钱经理",
                   contact_phone="13800138001", description="有意向更换系统")


def open_on_phone(browser, base_url: str, username: str, path: str):
    """A page as `username` sees it on a phone; the page itself never scrolls sideways."""
    page = sign_in(browser, base_url, username, width=PHONE)
    page.goto(path)
    return page


def assert_no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE


@pytest.fixture
def listed(app, users) -> None:
    """A few rows in the inbox, the opportunity, customer and service lists, with long Chinese names."""
    for name in ("杭州云启信息科技有限公司", "宁波港联物流股份有限公司"):
        opportunities.create_opportunity(user=users["manager1"], values=dict(OPPORTUNITY, customer_name=name))
    customer = customers.create_customer(user=users["manager1"], values={"name": "嘉兴瑞盛培训股份有限公司"})
    service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "customer_id": customer.id, "summary": "售后电话无人接听", "detail": "连续三天"})


@pytest.mark.browser
@pytest.mark.parametrize(("username", "path"), [
    ("supervisor1", "/"), ("supervisor1", "/opportunities/"), ("manager1", "/customers/"),
    ("service_lead", "/service/"),
])
def test_lists_keep_their_cells_readable_on_a_phone(browser, listed, live_server, artifacts, username, path):
    page = open_on_phone(browser, live_server, username, path)
    assert_no_sideways_scroll(page)
    widths = page.evaluate("""() => [...document.querySelectorAll('.table-responsive tbody td')]
        .filter(cell => !cell.querySelector('input[type=checkbox]'))
        .map(cell => [cell.getBoundingClientRect().width, cell.innerText.trim().slice(0, 12)])""")
    assert widths, "the list has rows"
    squeezed = [(round(width), text) for width, text in widths if width < NARROWEST_CELL]
    assert squeezed == []
    page.screenshot(path=str(artifacts / f"phone{path.replace('/', '-').rstrip('-') or '-inbox'}.png"))
    page.context.close()


NARROWEST_FIELD = 120  # px: a field a thumb can hit and that shows a few characters


@pytest.fixture
def records(app, users) -> dict[str, str]:
    """A customer, a quote with a line and an opportunity waiting to be assigned: the pages to open."""
    customer = customers.create_customer(user=users["manager1"], values={
        "name": "嘉兴瑞盛培训股份有限公司", "address": "浙江省嘉兴市南湖区中环南路 1288 号瑞盛大厦 15 楼"})
    quote = quotes.create_quote(user=users["manager1"], values={
        "customer_id": customer.id, "name": "年度培训系统采购报价", "quote_date": date(2026, 11, 20)}, lines=[
        {"product_name": "培训管理系统企业版（含三年维护）", "quantity": 2, "unit_price": "39800",
         "discount_pct": "8"}])
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        OPPORTUNITY, customer_name="杭州云启信息科技有限公司"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id,
                                                     HumanTask.status == TaskStatus.OPEN))
    return {"customer": f"/customers/{customer.id}", "new customer": "/customers/new",
            "quote editor": f"/quotes/{quote.id}/edit", "assign task": f"/tasks/{task.id}"}


@pytest.mark.browser
@pytest.mark.parametrize(("username", "page_name"), [
    ("manager1", "customer"), ("manager1", "new customer"), ("manager1", "quote editor"),
    ("supervisor1", "assign task"),
])
def test_forms_and_record_pages_fit_a_phone(browser, records, live_server, artifacts, username, page_name):
    page = open_on_phone(browser, live_server, username, records[page_name])
    if page_name == "assign task":
        wait_for_form(page)
    assert_no_sideways_scroll(page)
    # Nothing sticks out of the screen (a list scrolls inside its own frame, a diagram inside its canvas).
    outside = page.evaluate("""(phone) => [...document.querySelectorAll('main *')]
        .filter(el => el.offsetParent !== null && !el.closest('.table-responsive, .modal, .djs-container'))
        .filter(el => { const box = el.getBoundingClientRect(); return box.left < -0.5 || box.right > phone + 0.5; })
        .map(el => el.tagName + '#' + el.id + '.' + el.className)""", PHONE)
    assert outside == []
    fields = page.evaluate("""() => [...document.querySelectorAll(
            'main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), main select, main textarea')]
        .filter(field => field.offsetParent !== null && !field.closest('.modal, .table-responsive'))
        .map(field => [field.name || field.id, Math.round(field.getBoundingClientRect().width)])""")
    assert bool(fields) == (page_name != "customer")  # the forms show their fields
    assert [(name, width) for name, width in fields if width < NARROWEST_FIELD] == []
    page.screenshot(path=str(artifacts / f"phone-{page_name.replace(' ', '-')}.png"), full_page=True)
    page.context.close()
