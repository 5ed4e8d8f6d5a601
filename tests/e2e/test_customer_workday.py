"""An account manager's day on a customer: the 360 page, a new contact, an interaction, an export of his list."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from bpm_crm.extensions import db
from bpm_crm.models import Customer

from .test_opportunity_journey import sign_in

MINE = "杭州全景测试科技有限公司"
OTHERS = "成都别人家的贸易有限公司"


@pytest.fixture
def customers(app, users):
    """manager1 owns one customer (with a formula-looking remark), manager2 another."""
    mine = Customer(name=MINE, number="KH900001", owner_id=users["manager1"].id, level="重点", region="浙江省/杭州市",
                    phone="0571-88886666", address="杭州市西湖区文三路 100 号", remarks="=HYPERLINK(\"http://x\")",
                    created_by_id=users["manager1"].id)
    others = Customer(name=OTHERS, number="KH900002", owner_id=users["manager2"].id, region="四川省/成都市",
                      created_by_id=users["manager2"].id)
    db.session.add_all([mine, others])
    db.session.commit()
    return {"mine": mine.id, "others": others.id}


@pytest.mark.browser
def test_account_manager_works_on_a_customer_and_exports_his_list(browser, customers, live_server, artifacts):
    page = sign_in(browser, live_server, "manager1")

    page.click("#nav-customers")
    expect(page.locator("#customer-table")).to_contain_text(MINE)
    expect(page.locator("#customer-table")).not_to_contain_text(OTHERS)
    page.click(f"#customer-table a:has-text('{MINE}')")
    expect(page).to_have_url(re.compile(rf"/customers/{customers['mine']}$"))
    expect(page.locator("#customer-title")).to_contain_text(MINE)
    expect(page.locator("#section-contacts")).to_contain_text("暂无联系人")

    # a new contact, from the customer's own section; the form returns to the 360 page
    page.click("#section-contacts [data-add=contacts]")
    expect(page.locator("#locked-customer")).to_have_value(re.compile(MINE))
    page.fill("#name", "钱多多")
    page.select_option("#gender", "女")
    page.fill("#position", "采购经理")
    page.fill("#office_phone", "0571-88881234")
    page.fill("#mobile", "13900001111")
    page.click("#contact-submit")
    expect(page).to_have_url(re.compile(rf"/customers/{customers['mine']}$"))
    expect(page.locator("#section-contacts")).to_contain_text("钱多多")
    expect(page.locator("#section-counts [data-count=contacts]")).to_have_text("1")

    # an interaction with a field error first (no place), then corrected
    page.click("#section-interactions [data-add=interactions]")
    page.fill("#date", "2026-11-20")
    page.fill("#summary", "上门拜访，演示新版系统")
    page.click("#interaction-submit")
    expect(page.locator("[data-field-error=place]")).to_be_visible()
    page.fill("#place", "客户总部会议室")
    page.click("#interaction-submit")
    expect(page).to_have_url(re.compile(rf"/customers/{customers['mine']}$"))
    expect(page.locator("#section-interactions")).to_contain_text("上门拜访，演示新版系统")
    page.screenshot(path=str(artifacts / "10-customer-360.png"), full_page=True)

    # the export holds exactly his visible customers, formulas neutralised
    page.click("#nav-customers")
    with page.expect_download() as download_info:
        page.click("#export-customers")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(open(download.path(), "rb").read())).active
    rows = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    names = {value for row in rows[1:] for value in row if value in (MINE, OTHERS)}
    assert names == {MINE}
    cells = [value for row in rows for value in row if isinstance(value, str)]
    assert not any(value.startswith("=") for value in cells)
    page.screenshot(path=str(artifacts / "11-customer-list.png"), full_page=True)
