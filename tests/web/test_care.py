"""Care task pages: create from a customer, field errors, overdue highlight, done once, 404s, export."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import CareTask, Contact, Customer

from .helpers import page_text

FORM = {"kind": "生日", "title": "生日祝福", "due_date": "2026-11-30", "assignee_id": "", "contact_id": "",
        "note": ""}


@pytest.fixture(autouse=True)
def _today():
    clock.freeze(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


def make_customer(users, username: str, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def make_task(customer: Customer, title: str, due: date, **changes) -> CareTask:
    task = CareTask(customer_id=customer.id, kind=changes.pop("kind", "节日"), title=title, due_date=due,
                    assignee_id=customer.owner_id, **changes)
    db.session.add(task)
    db.session.commit()
    return task


def test_create_from_the_customer_page_with_a_contact(login, users):
    customer = make_customer(users, "manager1")
    contact = Contact(customer_id=customer.id, name="钱伟", gender="男", position="经理", office_phone="0571-1234567")
    db.session.add(contact)
    db.session.commit()
    browser = login("manager1")
    form = page_text(browser.get(f"/care/new?customer_id={customer.id}&contact_id={contact.id}"))
    assert 'id="care-form"' in form and "钱伟（经理）" in form and "售后回访" in form
    response = browser.post(f"/care/new?customer_id={customer.id}", data={**FORM, "contact_id": str(contact.id)})
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{customer.id}"
    task = db.session.scalar(select(CareTask))
    assert task.contact_id == contact.id and task.assignee_id == users["manager1"].id


def test_field_errors_and_a_contact_of_another_customer(login, users):
    customer = make_customer(users, "manager1")
    other = make_customer(users, "manager1", "苏州恒达")
    stranger = Contact(customer_id=other.id, name="孙厂长", gender="男", position="厂长", office_phone="0512-1234567")
    db.session.add(stranger)
    db.session.commit()
    browser = login("manager1")
    response = browser.post(f"/care/new?customer_id={customer.id}",
                            data={**FORM, "title": "", "kind": "", "due_date": ""})
    page = page_text(response)
    assert response.status_code == 422
    for name, message in (("title", "请填写关怀主题"), ("kind", "请选择关怀类型"), ("due_date", "请填写到期日期")):
        assert f'data-field-error="{name}"' in page and message in page
    wrong = browser.post(f"/care/new?customer_id={customer.id}", data={**FORM, "contact_id": str(stranger.id)})
    assert wrong.status_code == 422 and "联系人不属于所选客户" in page_text(wrong)
    assert db.session.scalar(select(func.count(CareTask.id))) == 0


def test_list_highlights_overdue_and_filters_by_due(login, users):
    customer = make_customer(users, "manager1")
    late = make_task(customer, "逾期回访", date(2026, 11, 20), kind="售后回访")
    make_task(customer, "本周节日", date(2026, 11, 27))
    make_task(customer, "下月生日", date(2026, 12, 20), kind="生日")
    browser = login("manager1")
    page = page_text(browser.get("/care/"))
    assert f'<tr class="overdue" data-care-task="{late.id}">' in page
    assert page.index("逾期回访") < page.index("本周节日") < page.index("下月生日")
    overdue = page_text(browser.get("/care/?due=overdue"))
    assert "逾期回访" in overdue and "本周节日" not in overdue
    week = page_text(browser.get("/care/?due=week"))
    assert "本周节日" in week and "逾期回访" not in week and "下月生日" not in week
    assert "下月生日" in page_text(browser.get("/care/?kind=生日")) and "本周节日" not in page_text(
        browser.get("/care/?kind=生日"))

    rows = list(load_workbook(io.BytesIO(browser.get("/care/export.xlsx?due=open&kind=节日").data))
                .active.iter_rows(values_only=True))
    assert [row[4] for row in rows[1:]] == ["本周节日"]


def test_done_once_then_a_clear_message(login, users):
    task = make_task(make_customer(users, "manager1"), "节日问候", date(2026, 11, 26))
    browser = login("manager1")
    assert 'id="care-done-form"' in page_text(browser.get(f"/care/{task.id}"))
    response = browser.post(f"/care/{task.id}/done", data={"note": "已寄月饼"})
    assert response.status_code == 302
    db.session.refresh(task)
    assert task.done_by_id == users["manager1"].id and task.note == "已寄月饼"
    again = browser.post(f"/care/{task.id}/done", data={"note": "再点一次"}, follow_redirects=True)
    assert "此关怀任务已由李明完成" in page_text(again)
    db.session.refresh(task)
    assert task.note == "已寄月饼"
    assert 'id="care-done"' in page_text(again) and 'id="care-done-form"' not in page_text(again)


def test_someone_elses_care_task_is_404_and_agents_may_not_enter(login, users):
    task = make_task(make_customer(users, "manager2", "成都蜀味"), "节日问候", date(2026, 11, 26))
    browser = login("manager1")
    for url in (f"/care/{task.id}", f"/care/{task.id}/edit"):
        assert browser.get(url).status_code == 404
    assert browser.post(f"/care/{task.id}/done").status_code == 404
    assert browser.post(f"/care/{task.id}/delete").status_code == 404
    db.session.refresh(task)
    assert task.done_at is None
    assert login("agent").get("/care/").status_code == 403


def test_edit_and_delete(login, users):
    customer = make_customer(users, "manager1")
    task = make_task(customer, "节日问候", date(2026, 11, 26))
    browser = login("manager1")
    assert 'value="节日问候"' in page_text(browser.get(f"/care/{task.id}/edit"))
    response = browser.post(f"/care/{task.id}/edit", data={**FORM, "customer_id": customer.id, "title": "春节问候",
                                                            "kind": "节日", "due_date": "2027-02-01"})
    assert response.status_code == 302
    db.session.refresh(task)
    assert task.title == "春节问候" and task.due_date == date(2027, 2, 1)
    assert browser.post(f"/care/{task.id}/delete").headers["Location"] == f"/customers/{customer.id}"
    assert db.session.get(CareTask, task.id) is None
