"""What a newcomer meets: the inbox opens on the work, transfers take the work along, a lost session keeps the
form, the import preview fits its frame, and the navigation stays on one line at 1024 px and in English."""
from __future__ import annotations

import re
import struct
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from bpm_crm.extensions import db
from bpm_crm.models import CareTask, Customer
from bpm_crm.services import opportunities, quotes

from .test_opportunity_journey import sign_in, wait_for_form

OPPORTUNITY = dict(source="展会", probability=60, summary="采购办公软件", contact="钱经理", contact_phone="13800138001",
                   description="有意向更换办公系统")


def in_english(page: Page) -> None:
    page.click("#user-menu")
    page.click("button[lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def png_height(data: bytes) -> int:
    """The height of a PNG image, read from its IHDR chunk."""
    return struct.unpack(">I", data[20:24])[0]


@pytest.fixture
def waiting_work(app, users):
    """Two opportunities waiting for a sales supervisor of 销售一部 to assign them."""
    for name in ("杭州落地测试有限公司", "宁波落地测试有限公司"):
        opportunities.create_opportunity(user=users["manager1"], values={**OPPORTUNITY, "customer_name": name})


@pytest.mark.browser
def test_the_inbox_opens_on_the_work_and_the_form_is_ready(browser, waiting_work, live_server, artifacts):
    page = sign_in(browser, live_server, "supervisor1", width=1024)
    expect(page.locator("#tab-todo")).to_have_attribute("aria-current", "page")
    rows = page.locator(".inbox-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#nav-inbox-count")).to_have_text("2")
    expect(rows.first).to_contain_text("待认领")
    page.screenshot(path=str(artifacts / "newcomer-inbox-1024.png"), full_page=True)

    # No claim step: the form of an offered task is open, and submitting it takes the task.
    page.locator(".inbox-table a", has_text="指派销售机会").first.click()
    wait_for_form(page)
    expect(page.locator("#claim-button")).to_have_count(0)
    expect(page.locator("#task-offered")).to_contain_text("销售主管")
    assignee = page.locator("#task-form-container input[id$='-assign_assignee']")
    assignee.fill("李")
    page.locator(".fjs-dropdownlist-item", has_text="李明").click()
    page.click("#complete-button")
    expect(page.locator(".alert-success")).to_contain_text("已提交")
    expect(page.locator(".inbox-table tbody tr")).to_have_count(1)
    expect(page.locator("#nav-inbox-count")).to_have_text("1")

    in_english(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/")
    expect(page.locator("#tab-todo")).to_contain_text("Open")
    expect(page.locator(".inbox-table")).to_contain_text("Assign the opportunity")
    expect(page.locator(".inbox-table")).to_contain_text("Opportunity assignment and development")
    page.screenshot(path=str(artifacts / "newcomer-inbox-en-1440.png"), full_page=True)


@pytest.fixture
def customer_with_work(app, users):
    """manager1's customer with care still to give and a draft quote he wrote."""
    manager = users["manager1"]
    customer = Customer(name="杭州转移测试科技有限公司", number="KH910001", owner_id=manager.id,
                        created_by_id=manager.id)
    db.session.add(customer)
    db.session.flush()
    db.session.add(CareTask(customer_id=customer.id, kind="生日", title="王总生日问候", assignee_id=manager.id,
                            due_date=date.today() + timedelta(days=5), created_by_id=manager.id))
    db.session.commit()
    quote = quotes.create_quote(user=manager, values={"customer_id": customer.id, "name": "年度软件采购报价",
                                                      "quote_date": date.today().isoformat()})
    return {"customer": customer.id, "quote": quote.id}


@pytest.mark.browser
def test_a_transfer_says_what_goes_along_and_moves_it(browser, customer_with_work, live_server, artifacts):
    supervisor = sign_in(browser, live_server, "supervisor1")
    supervisor.goto(f"/customers/{customer_with_work['customer']}")
    supervisor.click("#transfer-customer")
    dialog = supervisor.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-handover=care_task]")).to_contain_text("1")
    expect(dialog.locator("[data-handover=quote]")).to_contain_text("1")
    expect(dialog).to_contain_text("报价的制作人仍可查看自己制作的报价")
    supervisor.wait_for_timeout(400)  # the dialog's fade-in, for the screenshot only
    supervisor.screenshot(path=str(artifacts / "newcomer-transfer-dialog.png"))
    choice = dialog.locator("#transfer-to option", has_text="赵敏").get_attribute("value")
    dialog.locator("#transfer-to").select_option(choice)
    dialog.locator("#transfer-reason").fill("区域调整")
    dialog.locator("button[type=submit]").click()
    expect(supervisor.locator(".alert-success")).to_contain_text("随之转交")
    expect(supervisor.locator("#customer-owner")).to_contain_text("赵敏")

    previous = sign_in(browser, live_server, "manager1")
    previous.goto(f"/quotes/{customer_with_work['quote']}")
    expect(previous.locator("#quote-handed-over")).to_contain_text("赵敏")
    expect(previous.locator("#edit-quote")).to_have_count(0)
    previous.goto("/care/")
    expect(previous.locator("body")).not_to_contain_text("王总生日问候")

    new = sign_in(browser, live_server, "manager3")
    new.goto("/care/")
    expect(new.locator("body")).to_contain_text("王总生日问候")
    new.goto(f"/quotes/{customer_with_work['quote']}")
    expect(new.locator("#edit-quote")).to_be_visible()


@pytest.mark.browser
def test_a_lost_session_brings_the_typed_form_back_after_signing_in(browser, live_server, artifacts):
    page = sign_in(browser, live_server, "manager1", width=1024)
    page.goto("/opportunities/new")
    page.fill("#customer_name", "丢失会话测试有限公司")
    page.fill("#probability", "55")
    page.fill("#summary", "续签年度服务")
    page.fill("#description", "会话过期前填写的描述：客户希望下月签约。")
    kept = [cookie for cookie in page.context.cookies() if cookie["name"] != "session"]
    page.context.clear_cookies()
    page.context.add_cookies(kept)

    page.click("#opportunity-submit")
    expect(page).to_have_url(re.compile(r"/login\?next=/opportunities/new$"))
    expect(page.locator(".alert-warning")).to_contain_text("您填写的内容已保留")
    assert "丢失会话" not in page.url and "description" not in page.url
    page.screenshot(path=str(artifacts / "newcomer-lost-session-login.png"))
    page.fill("#username", "manager1")
    page.fill("#password", "demo1234")
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/opportunities/new$"))
    expect(page.locator("#customer_name")).to_have_value("丢失会话测试有限公司")
    expect(page.locator("#probability")).to_have_value("55")
    expect(page.locator("#description")).to_have_value("会话过期前填写的描述：客户希望下月签约。")
    page.screenshot(path=str(artifacts / "newcomer-lost-session-restored.png"), full_page=True)
    page.click("#opportunity-submit")
    expect(page).to_have_url(re.compile(r"/opportunities/\d+$"))
    expect(page.locator("#opportunity-title")).to_contain_text("未指派")


HEADERS = ["客户名称", "简称", "地区", "行业", "客户来源", "客户等级", "满意度", "信用度", "联系人", "电话",
           "传真", "网址", "地址", "邮编", "营业执照号", "法人代表", "注册资金", "年营业额", "开户行", "银行账号",
           "税号", "备注", "客户经理", "成立日期"]


@pytest.mark.browser
def test_the_import_preview_puts_errors_first_marks_cells_and_scrolls_in_its_frame(browser, live_server, artifacts,
                                                                                    tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for index in range(8):
        region = "火星" if index == 2 else "浙江省/杭州市"  # not in the dictionary
        phone = "abc" if index == 5 else "0571-88886666"
        sheet.append([f"浙江预览导入科技有限公司{index}", f"预览{index}", region, "信息技术", "展会", "普通", 4, 3,
                      "张三", phone, "", "https://example.com", "杭州市西湖区文三路 100 号", "310000",
                      "91330100MA2", "李四", "100", "200", "工商银行", "6222", f"9133{index}",
                      "重要客户，需要经常回访和关怀", "manager1", "2020-01-01"])
    book.save(tmp_path / "customers.xlsx")

    page = sign_in(browser, live_server, "admin", width=1024)
    page.goto("/imports/")
    page.set_input_files("#upload-form input[type=file]", str(tmp_path / "customers.xlsx"))
    page.click("#upload-submit")
    expect(page.locator("#preview-rows")).to_be_visible()

    headers = page.locator("#preview-rows thead th").all_inner_texts()
    assert headers[:3] == ["行号", "结果", "说明"] and headers[3] == "客户名称" and len(headers) == 3 + 23
    frame = page.locator("#preview-frame")
    sizes = frame.evaluate("f => ({scroll: f.scrollWidth, client: f.clientWidth,"
                           " page: document.documentElement.scrollWidth, window: window.innerWidth})")
    assert sizes["scroll"] > sizes["client"]  # the table scrolls inside its frame …
    assert sizes["page"] <= sizes["window"]  # … and the page itself does not
    bad = page.locator("#preview-rows td.cell-error")
    expect(bad).to_have_count(2)
    expect(page.locator("tr[data-line='4'] td.cell-error")).to_have_attribute("title", re.compile("火星"))
    expect(page.locator("tr[data-line='7'] td[data-field=phone]")).to_have_class(re.compile("cell-error"))
    line = page.locator("tr[data-line='3'] td[data-field=address]")
    name = page.locator("tr[data-line='3'] td[data-field=name]")
    assert line.bounding_box()["height"] == name.bounding_box()["height"] < 48  # one line, not a column of characters
    page.locator("#preview-rows").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "newcomer-import-preview-1024.png"), full_page=True)


NAV_ROW_MAX = 64  # px: the navigation bar as one row of labels


@pytest.mark.browser
@pytest.mark.parametrize(("locale", "width"), [("zh", 1024), ("zh", 1440), ("en", 1024), ("en", 1440)])
def test_navigation_labels_stay_on_one_line(browser, live_server, artifacts, locale, width):
    page = sign_in(browser, live_server, "admin", width=width)
    if locale == "en":
        in_english(page)
    navbar = page.locator(".app-navbar")
    shot = navbar.screenshot(path=str(artifacts / f"newcomer-navbar-{locale}-{width}.png"))
    assert png_height(shot) <= NAV_ROW_MAX, f"the navigation wraps: {png_height(shot)} px high"
    single = page.locator("#nav-inbox").bounding_box()["height"]
    for label in page.locator(".app-navbar .navbar-nav > .nav-item > .nav-link").all():
        assert label.bounding_box()["height"] == single, label.inner_text()
    user = page.locator("#user-menu")
    assert user.bounding_box()["height"] <= single
    expect(page.locator("#nav-opportunities")).to_contain_text("Sales opportunities" if locale == "en" else "销售机会")
    # The inbox's tabs stay inside their card, each label on one line.
    page.goto(f"{live_server}/")
    card = page.locator(".inbox-tabs").bounding_box()
    tabs = page.locator(".inbox-tabs > .nav-item > .nav-link").all()
    assert len(tabs) == 7
    for tab in tabs:
        box = tab.bounding_box()
        assert box["x"] + box["width"] <= card["x"] + card["width"] + 1, tab.inner_text()
        assert abs(box["height"] - tabs[0].bounding_box()["height"]) < 8, tab.inner_text()  # one line each

    page.click("#nav-more")
    menu = page.locator(".nav-more-menu")
    expect(menu.locator("#nav-group-daily")).to_have_text("Daily work" if locale == "en" else "日常工作")
    expect(menu.locator("#nav-group-admin")).to_have_text("Administration" if locale == "en" else "系统管理")
    items = menu.locator(".dropdown-item").all_inner_texts()
    assert ("Contacts" if locale == "en" else "联系人") in [item.strip() for item in items]
    page.screenshot(path=str(artifacts / f"newcomer-more-{locale}-{width}.png"))
