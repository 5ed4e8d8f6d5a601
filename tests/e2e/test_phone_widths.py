"""On a phone (390 px) the lists scroll sideways inside their cards instead of squeezing names to a letter a line,
and no page is wider than the screen."""
from __future__ import annotations

import pytest

from bpm_crm.services import customers, opportunities, service_requests

from .test_opportunity_journey import sign_in

PHONE = 390
NARROWEST_CELL = 80  # px: about five Chinese characters


@pytest.fixture
def listed(app, users) -> None:
    """A few rows in the inbox, the opportunity, customer and service lists, with long Chinese names."""
    for name in ("杭州云启信息科技有限公司", "宁波港联物流股份有限公司"):
        opportunities.create_opportunity(user=users["manager1"], values=dict(
            customer_name=name, probability=40, summary="仓储管理系统升级改造", source="展会", contact="钱经理",
            contact_phone="13800138001", description="有意向更换系统"))
    customer = customers.create_customer(user=users["manager1"], values={"name": "嘉兴瑞盛培训股份有限公司"})
    service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "customer_id": customer.id, "summary": "售后电话无人接听", "detail": "连续三天"})


@pytest.mark.browser
@pytest.mark.parametrize(("username", "path"), [
    ("supervisor1", "/"), ("supervisor1", "/opportunities/"), ("manager1", "/customers/"),
    ("service_lead", "/service/"),
])
def test_lists_keep_their_cells_readable_on_a_phone(browser, listed, live_server, artifacts, username, path):
    page = sign_in(browser, live_server, username, width=PHONE)
    page.goto(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE  # the page itself never scrolls sideways
    widths = page.evaluate("""() => [...document.querySelectorAll('.table-responsive tbody td')]
        .filter(cell => !cell.querySelector('input[type=checkbox]'))
        .map(cell => [cell.getBoundingClientRect().width, cell.innerText.trim().slice(0, 12)])""")
    assert widths, "the list has rows"
    squeezed = [(round(width), text) for width, text in widths if width < NARROWEST_CELL]
    assert squeezed == []
    page.screenshot(path=str(artifacts / f"phone{path.replace('/', '-').rstrip('-') or '-inbox'}.png"))
    page.context.close()
