"""Quote pages: create, line editor with totals, field errors, draft-only editing, scope, export, delete."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, Quote, QuoteLine, QuoteStatus, RecycleBinEntry
from bpm_crm.services import quotes

from .helpers import page_text


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, number=None, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def new_quote(user, of: Customer, **changes) -> Quote:
    values = {"customer_id": of.id, "name": "办公软件报价", "quote_date": date(2026, 11, 20), **changes}
    return quotes.create_quote(user=user, values=values, lines=[
        {"product_name": "办公软件标准版", "quantity": 10, "unit_price": "1280", "discount_pct": "15"}])


def test_create_a_quote_then_build_its_lines(login, users):
    mine = customer(users["manager1"])
    contact = Contact(customer_id=mine.id, name="钱经理", gender="男", position="采购", office_phone="0571-1")
    db.session.add(contact)
    db.session.commit()
    browser = login("manager1")
    form = page_text(browser.get(f"/quotes/new?customer_id={mine.id}"))
    assert 'id="quote-form"' in form and f'<option selected value="{mine.id}">' in form
    response = browser.post("/quotes/new", data={"customer_id": mine.id, "contact_id": contact.id,
                                                 "name": "年度采购报价", "quote_date": "2026-11-20"})
    quote = db.session.scalar(select(Quote))
    assert response.status_code == 302 and response.headers["Location"] == f"/quotes/{quote.id}/edit"
    assert quote.number == f"BJ{quote.id:06d}" and quote.contact_id == contact.id

    added = browser.post(f"/quotes/{quote.id}/lines", data={"product_id": "", "product_name": "考勤机",
                                                            "quantity": "3", "unit_price": "19.99",
                                                            "discount_pct": "12.5"})
    assert added.status_code == 302
    browser.post(f"/quotes/{quote.id}/lines", data={"product_name": "安装", "quantity": "1", "unit_price": "100"})
    editor = page_text(browser.get(f"/quotes/{quote.id}/edit"))
    assert "52.47" in editor and "¥152.47" in editor and 'id="line-form"' in editor

    line = quote.lines[0]
    assert 'value="3"' in page_text(browser.get(f"/quotes/{quote.id}/edit?line={line.id}"))
    browser.post(f"/quotes/{quote.id}/lines/{line.id}", data={"product_name": "考勤机", "quantity": "4",
                                                              "unit_price": "19.99", "discount_pct": "12.5"})
    browser.post(f"/quotes/{quote.id}/lines/{quote.lines[1].id}/delete")
    db.session.expire_all()
    assert [(x.product_name, x.amount) for x in quote.lines] == [("考勤机", Decimal("69.97"))]
    assert quote.total == Decimal("69.97")

    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert "年度采购报价" in page and "钱经理" in page and "¥69.97" in page and 'id="attachments"' in page
    assert 'id="edit-quote"' in page and 'id="delete-dialog"' in page


def test_bad_input_shows_field_errors_and_saves_nothing(login, users):
    mine = customer(users["manager1"])
    other = customer(users["manager1"], name="另一家")
    stranger = Contact(customer_id=other.id, name="外人", gender="女", position="x", office_phone="1")
    db.session.add(stranger)
    db.session.commit()
    browser = login("manager1")
    response = browser.post("/quotes/new", data={"customer_id": mine.id, "contact_id": stranger.id, "name": "",
                                                 "quote_date": "2026-11-20"})
    page = page_text(response)
    assert response.status_code == 422 and 'data-field-error="name"' in page and "请填写报价名称" in page
    response = browser.post("/quotes/new", data={"customer_id": mine.id, "contact_id": stranger.id, "name": "报价",
                                                 "quote_date": "2026-11-20"})
    assert response.status_code == 422 and "联系人不属于该客户" in page_text(response)
    assert db.session.scalar(select(func.count(Quote.id))) == 0

    quote = new_quote(users["manager1"], mine)
    response = browser.post(f"/quotes/{quote.id}/lines", data={"product_name": "x", "quantity": "0",
                                                               "unit_price": "1", "discount_pct": "101"})
    page = page_text(response)
    assert response.status_code == 422
    assert "数量应为正整数" in page and "折扣应在 0 到 100 之间" in page
    assert db.session.scalar(select(func.count(QuoteLine.id))) == 1


def test_a_quote_under_approval_cannot_be_edited(login, users):
    quote = new_quote(users["manager1"], customer(users["manager1"]))
    quote.status = QuoteStatus.PENDING.value
    db.session.commit()
    browser = login("manager1")
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert 'id="edit-quote"' not in page and 'id="quote-locked"' in page
    assert browser.get(f"/quotes/{quote.id}/edit").status_code == 302
    response = browser.post(f"/quotes/{quote.id}/lines", data={"product_name": "x", "quantity": "1",
                                                               "unit_price": "1"})
    assert response.status_code == 409 and "审批中或已批准的报价不能修改" in page_text(response)
    refused = browser.post(f"/quotes/{quote.id}/delete", follow_redirects=True)
    assert "只有草稿可以修改或删除" in page_text(refused)
    assert db.session.get(Quote, quote.id) is not None


def test_another_managers_quote_is_a_404_and_missing_from_the_list(login, users):
    foreign = new_quote(users["manager2"], customer(users["manager2"], name="成都蜀味餐饮"), name="收银系统")
    own = new_quote(users["manager1"], customer(users["manager1"]))
    browser = login("manager1")
    for url in (f"/quotes/{foreign.id}", f"/quotes/{foreign.id}/edit"):
        response = browser.get(url)
        assert response.status_code == 404 and "报价不存在或您无权查看" in page_text(response)
    assert browser.post(f"/quotes/{foreign.id}/delete").status_code == 404
    listing = page_text(browser.get("/quotes/"))
    assert own.number in listing and foreign.number not in listing
    assert own.number not in page_text(browser.get("/quotes/?status=已批准"))
    assert own.number in page_text(browser.get("/quotes/?q=杭州云启"))


def test_deleting_a_line_that_is_gone_says_so_and_a_foreign_quote_stays_a_404(login, users):
    own = new_quote(users["manager1"], customer(users["manager1"]))
    foreign = new_quote(users["manager2"], customer(users["manager2"], name="成都蜀味餐饮"))
    browser = login("manager1")
    gone = browser.post(f"/quotes/{own.id}/lines/{foreign.lines[0].id}/delete")
    assert gone.status_code == 302 and gone.headers["Location"] == f"/quotes/{own.id}"
    assert "报价明细不存在" in page_text(browser.get(gone.headers["Location"]))
    assert browser.post(f"/quotes/{foreign.id}/lines/{foreign.lines[0].id}/delete").status_code == 404
    db.session.expire_all()
    assert len(own.lines) == 1 and len(foreign.lines) == 1


def test_export_has_the_filtered_visible_rows(login, users):
    own = new_quote(users["manager1"], customer(users["manager1"]), name="=HYPERLINK(\"x\")")
    new_quote(users["manager2"], customer(users["manager2"], name="成都蜀味餐饮"))
    response = login("manager1").get("/quotes/export?status=草稿")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == own.number
    assert not str(rows[1][1]).startswith("=")


def test_delete_after_confirmation_moves_the_quote_to_the_bin(login, users):
    quote = new_quote(users["manager1"], customer(users["manager1"]))
    browser = login("manager1")
    response = browser.post(f"/quotes/{quote.id}/delete", follow_redirects=True)
    assert "已移入回收站" in page_text(response)
    assert db.session.scalar(select(func.count(Quote.id))) == 0
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "quote"


def test_a_round_discount_reads_as_written(login, users):
    quote = new_quote(users["manager1"], customer(users["manager1"]))
    quotes.add_line(user=users["manager1"], quote_id=quote.id, values={
        "product_name": "实施服务", "quantity": 1, "unit_price": "30000", "discount_pct": "10"})
    page = page_text(login("manager1").get(f"/quotes/{quote.id}"))
    assert '<td class="text-end">10</td>' in page and '<td class="text-end">15</td>' in page and "E+" not in page
