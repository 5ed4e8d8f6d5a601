"""Interaction pages: create from the customer page, future dates refused, scope 404s, edit, delete, export."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import Customer, Interaction, RecycleBinEntry

from .helpers import page_text

FORM = {"date": "2026-11-20", "place": "客户会议室", "summary": "演示新版本", "detail": "对报表感兴趣", "remarks": ""}


@pytest.fixture(autouse=True)
def _today():
    clock.freeze(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


def make_customer(users, username: str, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def make_interaction(customer: Customer, summary: str = "初次拜访", day: date = date(2026, 11, 1)) -> Interaction:
    record = Interaction(customer_id=customer.id, date=day, place="杭州", summary=summary)
    db.session.add(record)
    db.session.commit()
    return record


def _count() -> int:
    return db.session.scalar(select(func.count(Interaction.id)))


def test_create_from_the_customer_page_returns_there(login, users):
    customer = make_customer(users, "manager1")
    browser = login("manager1")
    form = page_text(browser.get(f"/interactions/new?customer_id={customer.id}"))
    assert 'id="interaction-form"' in form and 'value="2026-11-23"' in form  # today is the default date
    response = browser.post(f"/interactions/new?customer_id={customer.id}", data=FORM)
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{customer.id}"
    record = db.session.scalar(select(Interaction))
    assert record.customer_id == customer.id and record.date == date(2026, 11, 20)
    page = page_text(browser.get(f"/interactions/{record.id}"))
    assert "演示新版本" in page and "李明" in page and 'id="delete-dialog"' in page


def test_future_date_and_missing_fields_are_field_errors(login, users):
    customer = make_customer(users, "manager1")
    browser = login("manager1")
    response = browser.post(f"/interactions/new?customer_id={customer.id}", data={**FORM, "date": "2026-11-24"})
    assert response.status_code == 422
    assert 'data-field-error="date"' in page_text(response) and "交往日期不能晚于今天" in page_text(response)
    missing = browser.post(f"/interactions/new?customer_id={customer.id}", data={**FORM, "place": "", "summary": ""})
    page = page_text(missing)
    assert missing.status_code == 422 and "请填写地点" in page and "请填写概要" in page
    assert _count() == 0


def test_someone_elses_interaction_is_404(login, users):
    record = make_interaction(make_customer(users, "manager2", "成都蜀味"))
    browser = login("manager1")
    assert browser.get(f"/interactions/{record.id}").status_code == 404
    assert browser.get(f"/interactions/{record.id}/edit").status_code == 404
    assert browser.post(f"/interactions/{record.id}/delete").status_code == 404
    assert _count() == 1


def test_edit_delete_list_and_export(login, users):
    customer = make_customer(users, "manager1")
    old = make_interaction(customer, "初次拜访", date(2026, 10, 1))
    make_interaction(customer, "技术交流", date(2026, 11, 2))
    make_interaction(make_customer(users, "manager1", "苏州恒达"), "电话回访", date(2026, 11, 3))
    browser = login("manager1")
    assert browser.post(f"/interactions/{old.id}/edit",
                        data={**FORM, "customer_id": customer.id, "summary": "首次上门拜访"}).status_code == 302
    db.session.refresh(old)
    assert old.summary == "首次上门拜访" and old.date == date(2026, 11, 20)

    listing = page_text(browser.get(f"/interactions/?customer_id={customer.id}"))
    assert "首次上门拜访" in listing and "技术交流" in listing and "电话回访" not in listing
    exported = browser.get(f"/interactions/export.xlsx?customer_id={customer.id}&q=技术")
    rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
    assert [row[4] for row in rows[1:]] == ["技术交流"]

    assert browser.post(f"/interactions/{old.id}/delete").headers["Location"] == f"/customers/{customer.id}"
    assert db.session.get(Interaction, old.id) is None
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "interaction"
