"""Bad input on the pages is a clear 400/404/422 naming the field, never a 500, and changes nothing."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Contact, Customer, CustomerShare, CustomerTransfer, Order, OrderLine, User
from bpm_crm.services import customers
from bpm_crm.services.paging import MAX_PAGE

from .helpers import page_text

LISTS = ["/", "/customers/", "/contacts/", "/interactions/", "/care/", "/churn/", "/opportunities/", "/quotes/",
         "/service/", "/products/", "/products/stock", "/recycle-bin/", "/admin/users", "/admin/audit-log",
         "/admin/login-log", "/customers/{customer}/orders"]
ID_FILTERS = [("/customers/", "owner_id"), ("/contacts/", "customer_id"), ("/interactions/", "customer_id"),
              ("/care/", "customer_id"), ("/churn/", "customer_id"), ("/quotes/", "customer_id"),
              ("/service/", "customer_id"), ("/products/stock", "product_id"), ("/products/stock", "warehouse_id"),
              ("/admin/users", "department_id"), ("/contacts/new", "customer_id"),
              ("/service/new", "customer_id"), ("/quotes/new", "customer_id")]
CONTACT = {"name": "钱伟", "gender": "男", "position": "采购经理", "office_phone": "0571-88886666"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def select_tag(page: str, name: str) -> str:
    """The opening <select> tag of a field."""
    match = re.search(rf'<select[^>]*\bname="{name}"[^>]*>', page)
    assert match, name
    return match.group(0)


def make(users, username: str = "manager1", **values) -> Customer:
    return customers.create_customer(user=users[username], values={"name": "杭州云启科技有限公司", **values})


def test_page_numbers_past_the_limit_are_a_422_page_naming_page(login, users):
    customer = make(users)
    browser = login("admin")
    for template in LISTS:
        path = template.format(customer=customer.id)
        for page in ("99999999999999999999", str(MAX_PAGE + 1), "0", "²"):
            response = browser.get(f"{path}?page={page}")
            assert response.status_code == 422, (path, page, response.status_code)
            assert "page" in page_text(response)
        assert browser.get(f"{path}?page={MAX_PAGE}").status_code == 200, path


def test_bad_id_filters_are_a_422_page_naming_the_filter(login, users):
    browser = login("admin")
    for path, name in ID_FILTERS:
        for value in ("2147483648", "99999999999999999999", "²", "x"):
            response = browser.get(f"{path}?{name}={value}")
            assert response.status_code == 422, (path, name, value, response.status_code)
            assert name in page_text(response)
    # The audit log shows every entry with a warning when its filters are wrong, as for a bad date range.
    audit = browser.get("/admin/audit-log?user_id=2147483648")
    assert audit.status_code == 200 and "查询参数有误" in page_text(audit)


@pytest.mark.parametrize("value", ["2147483648", "9223372036854775808", "99999999999999999999"])
def test_path_ids_no_record_can_have_are_404(login, users, value):
    customer = make(users)
    browser = login("admin")
    for path in ("/customers/{v}", "/customers/{v}/edit", "/customers/{v}/orders", "/contacts/{v}", "/quotes/{v}",
                 "/orders/{v}", "/instances/{v}", "/admin/users/{v}/edit", "/attachments/{v}"):
        assert browser.get(path.format(v=value)).status_code == 404, path
    for path in ("/customers/{v}/delete", "/customers/{v}/claim", "/quotes/{v}/delete", "/care/{v}/done"):
        assert browser.post(path.format(v=value)).status_code == 404, path
    # Ending a share that does not exist is reported on the customer page, whatever the user id.
    unshared = browser.post(f"/customers/{customer.id}/shares/{value}/delete", follow_redirects=True)
    assert unshared.status_code == 200 and "该客户未共享给此用户" in page_text(unshared)
    assert count(Customer) == 1


def test_form_ids_no_record_can_have_are_field_errors(login, users):
    customer = make(users)
    browser = login("manager1")
    for value in ("2147483648", "99999999999999999999", "²"):
        response = browser.post("/contacts/new", data={**CONTACT, "customer_id": value})
        assert response.status_code == 422 and 'data-field-error="customer_id"' in page_text(response)
        shared = browser.post(f"/customers/{customer.id}/shares", data={"user_id": value}, follow_redirects=True)
        assert shared.status_code == 200
        moved = login("supervisor1").post("/customers/transfer", data={
            "ids": [value], "to_user_id": users["manager3"].id}, follow_redirects=True)
        assert moved.status_code == 200 and "应为记录编号" in page_text(moved)
        created = login("supervisor1").post("/customers/new", data={"name": "越界公司", "owner_id": value})
        assert created.status_code == 422 and 'data-field-error="owner_id"' in page_text(created)
        admin = login("admin").post("/admin/users/new", data={
            "username": "manager9", "full_name": "赵九", "password": "s3cret-pass", "department_id": value,
            "superior_id": value, "role_ids": [value]})
        assert admin.status_code == 422
    assert count(Contact) == 0 and count(CustomerShare) == 0 and count(CustomerTransfer) == 0
    assert count(Customer) == 1 and db.session.scalar(select(User).where(User.username == "manager9")) is None


@pytest.mark.parametrize("body", [
    b"name=%FF%FE&phone=0571-1",         # percent-escaped bytes that are not UTF-8
    b"name=%ED%A0%80",                   # an encoded lone surrogate
    b"name=\xff\xfe",                    # raw bytes that are not UTF-8
    b"name=ok&remarks=a%00b",            # NUL, which PostgreSQL cannot store
    b"name=ok&%FF=1",                    # a bad field name
])
def test_form_text_that_is_not_utf8_is_a_400_naming_the_field(app, login, body):
    browser = login("manager1")
    response = browser.post("/customers/new", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "含有无效字符" in page_text(response)
    # With CSRF checks on, as in production, the text is still checked first (CSRF reads the form).
    app.config["WTF_CSRF_ENABLED"] = True
    checked = browser.post("/customers/new", data=body, content_type="application/x-www-form-urlencoded")
    assert checked.status_code == 400 and "含有无效字符" in page_text(checked)
    assert count(Customer) == 0


def test_multipart_text_that_is_not_utf8_is_refused_by_the_view(login, users):
    customer = make(users)
    boundary = "----bpm"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"record_type\"\r\n\r\ncustomer\xff\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"record_id\"\r\n\r\n{customer.id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode("latin-1")
    response = login("manager1").post("/attachments/new", data=body,
                                      content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 404  # "customer\ufffd" names no record type
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_order_history_export_of_a_customer_whose_name_excel_forbids_in_sheet_titles(login, users):
    from datetime import date
    from decimal import Decimal

    name = "甲/乙贸易有限公司[华东]:*?\\总部"
    customer = Customer(name=name, number="KH000001", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.flush()
    db.session.add(Order(number="DD1", customer_id=customer.id, order_date=date(2026, 1, 5), status=5,
                         total=Decimal("100"), lines=[OrderLine(product_name="办公软件", quantity=1,
                                                                unit_price=Decimal("100"), amount=Decimal("100"))]))
    db.session.commit()
    response = login("manager1").get(f"/customers/{customer.id}/orders/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert sheet.title == "甲_乙贸易有限公司_华东_____总部 历史订单"
    assert sheet["A2"].value == "DD1"


def test_an_account_manager_sees_status_and_level_locked_and_cannot_post_them(login, users):
    customer = make(users, level="重点")
    browser = login("manager1")
    form = page_text(browser.get(f"/customers/{customer.id}/edit"))
    assert "disabled" in select_tag(form, "status") and "disabled" in select_tag(form, "level")
    new_form = page_text(browser.get("/customers/new"))
    assert "disabled" not in select_tag(new_form, "level") and "disabled" in select_tag(new_form, "status")
    response = browser.post(f"/customers/{customer.id}/edit", data={"name": "杭州云启科技有限公司", "status": "已流失",
                                                                      "level": "VIP"})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="status"' in page and 'data-field-error="level"' in page
    db.session.expire_all()
    assert (db.session.get(Customer, customer.id).status, db.session.get(Customer, customer.id).level) == (
        "正常", "重点")

    admin = login("admin")
    assert "disabled" not in select_tag(page_text(admin.get(f"/customers/{customer.id}/edit")), "status")
    assert admin.post(f"/customers/{customer.id}/edit", data={"name": "杭州云启科技有限公司", "status": "已流失",
                                                              "level": "VIP"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).level == "VIP"


@pytest.mark.parametrize("query", ["q=a%00b", "q=%FF", "status=%ED%A0%80", "%FF=1"])
def test_search_text_the_database_cannot_hold_is_a_400_not_an_error(app, login, users, query):
    """A NUL in a search box was a 500 on PostgreSQL (the list query and the export); now the request is refused
    before it reaches them, on pages and the API alike."""
    customers.create_customer(user=users["manager1"], values={"name": "检索测试有限公司"})
    browser = login("manager1")
    for path in ("/customers/", "/customers/export", "/service/", "/"):
        response = browser.get(f"{path}?{query}")
        assert response.status_code == 400 and "含有无效字符" in page_text(response), path
    token = app.test_client().post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"})
    refused = app.test_client().get(f"/api/v1/customers?{query}",
                                    headers={"Authorization": f"Bearer {token.json['token']}"})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "form_field_encoding"
    assert browser.get("/customers/?q=检索").status_code == 200
