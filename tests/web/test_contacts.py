"""Contact pages: create from the customer page, field errors, scope 404s, edit, delete with confirm, export."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, CustomerShare, RecycleBinEntry

from .helpers import page_text

FORM = {"name": "钱伟", "gender": "男", "position": "采购经理", "office_phone": "0571-88886666",
        "mobile": "13800138001", "email": "qian@example.com", "birthday": "1985-06-01", "remarks": ""}


def make_customer(users, username: str, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def make_contact(customer: Customer, name: str = "钱伟", **changes) -> Contact:
    contact = Contact(customer_id=customer.id, name=name, gender="男", position="经理",
                      office_phone="0571-1234567", **changes)
    db.session.add(contact)
    db.session.commit()
    return contact


def _count() -> int:
    return db.session.scalar(select(func.count(Contact.id)))


def test_create_from_the_customer_page_locks_the_customer_and_returns_there(login, users):
    customer = make_customer(users, "manager1")
    make_customer(users, "manager1", "苏州恒达")
    browser = login("manager1")
    form = page_text(browser.get(f"/contacts/new?customer_id={customer.id}"))
    assert 'id="contact-form"' in form and 'id="locked-customer"' in form and "杭州云启科技有限公司" in form
    assert "苏州恒达" not in form  # no select to pick another customer
    response = browser.post(f"/contacts/new?customer_id={customer.id}", data={**FORM, "customer_id": "999"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/customers/{customer.id}"
    contact = db.session.scalar(select(Contact))
    assert contact.customer_id == customer.id and contact.created_by_id == users["manager1"].id
    page = page_text(browser.get(f"/contacts/{contact.id}"))
    assert "钱伟" in page and "qian@example.com" in page and 'id="delete-dialog"' in page


def test_create_without_context_offers_my_customers_only(login, users):
    mine = make_customer(users, "manager1")
    make_customer(users, "manager2", "成都蜀味")
    browser = login("manager1")
    form = page_text(browser.get("/contacts/new"))
    assert "杭州云启科技有限公司" in form and "成都蜀味" not in form
    response = browser.post("/contacts/new", data={**FORM, "customer_id": str(mine.id)})
    contact = db.session.scalar(select(Contact))
    assert response.headers["Location"] == f"/contacts/{contact.id}"


def test_missing_fields_and_bad_values_show_field_errors_and_save_nothing(login, users):
    customer = make_customer(users, "manager1")
    browser = login("manager1")
    response = browser.post(f"/contacts/new?customer_id={customer.id}",
                            data={**FORM, "name": "", "gender": "x", "position": "", "email": "bad"})
    page = page_text(response)
    assert response.status_code == 422
    for name, message in (("name", "请填写姓名"), ("position", "请填写职位"), ("email", "电子邮箱格式不正确")):
        assert f'data-field-error="{name}"' in page and message in page
    assert 'value="0571-88886666"' in page
    assert _count() == 0

    gender = browser.post(f"/contacts/new?customer_id={customer.id}", data={**FORM, "gender": "x"})
    assert gender.status_code == 422 and "性别应为“男”或“女”" in page_text(gender)
    future = browser.post(f"/contacts/new?customer_id={customer.id}", data={**FORM, "birthday": "1985-02-30"})
    assert future.status_code == 422 and "日期格式应为 YYYY-MM-DD" in page_text(future)
    assert _count() == 0


def test_someone_elses_contact_and_customer_are_404(login, users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    contact = make_contact(theirs)
    browser = login("manager1")
    for url in (f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit", f"/contacts/new?customer_id={theirs.id}",
                f"/contacts/?customer_id={theirs.id}"):
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/contacts/{contact.id}/delete").status_code == 404
    assert browser.post(f"/contacts/{contact.id}/edit", data={**FORM, "customer_id": theirs.id}).status_code == 404
    assert _count() == 1 and db.session.get(Contact, contact.id).name == "钱伟"


def test_a_sharee_sees_the_contact_without_edit_buttons(login, users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    contact = make_contact(theirs)
    db.session.add(CustomerShare(customer_id=theirs.id, user_id=users["manager1"].id))
    db.session.commit()
    browser = login("manager1")
    page = page_text(browser.get(f"/contacts/{contact.id}"))
    assert "钱伟" in page and 'id="edit-contact"' not in page and 'id="delete-dialog"' not in page
    assert browser.get(f"/contacts/new?customer_id={theirs.id}").status_code == 403
    assert browser.post(f"/contacts/{contact.id}/edit", data={**FORM, "customer_id": theirs.id}).status_code == 403


def test_edit_and_delete_to_the_recycle_bin(login, users):
    customer = make_customer(users, "manager1")
    contact = make_contact(customer, birthday=None)
    browser = login("manager1")
    form = page_text(browser.get(f"/contacts/{contact.id}/edit"))
    assert 'value="钱伟"' in form
    response = browser.post(f"/contacts/{contact.id}/edit",
                            data={**FORM, "customer_id": customer.id, "position": "总经理"})
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    db.session.refresh(contact)
    assert contact.position == "总经理"

    deleted = browser.post(f"/contacts/{contact.id}/delete")
    assert deleted.status_code == 302 and deleted.headers["Location"] == f"/customers/{customer.id}"
    assert db.session.get(Contact, contact.id) is None
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "contact"


def test_list_search_and_export_contain_exactly_the_filtered_rows(login, users):
    first = make_customer(users, "manager1", "杭州云启")
    second = make_customer(users, "manager1", "苏州恒达")
    make_contact(first, "赵一", mobile="13811110000")
    make_contact(first, "孙二", email="=HYPERLINK(\"x\")")
    make_contact(second, "李三")
    make_contact(make_customer(users, "manager2", "成都蜀味"), "周四")
    browser = login("manager1")
    listing = page_text(browser.get(f"/contacts/?customer_id={first.id}"))
    assert "赵一" in listing and "孙二" in listing and "李三" not in listing and 'id="customer-filter"' in listing
    assert "周四" not in page_text(browser.get("/contacts/"))

    response = browser.get(f"/contacts/export.xlsx?customer_id={first.id}&sort=name")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("客户编号", "客户名称", "姓名")
    assert sorted(row[2] for row in rows[1:]) == ["孙二", "赵一"]
    assert all(not str(cell).startswith("=") for row in rows for cell in row if cell)

    searched = browser.get("/contacts/export.xlsx?q=1381111")
    assert [row[2] for row in load_workbook(io.BytesIO(searched.data)).active.iter_rows(values_only=True)][1:] == [
        "赵一"]
