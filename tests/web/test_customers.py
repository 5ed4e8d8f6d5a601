"""Customer pages: list with tabs, filters, sort and export; form with field errors; the 360 page and its actions."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, CustomerTransfer, Order, RecycleBinEntry
from bpm_crm.services import customers

from .helpers import page_text

FORM = {"name": "杭州云启科技有限公司", "short_name": "云启", "level": "重点", "status": "正常",
        "region": "浙江省/杭州市", "industry": "信息技术", "source": "展会", "satisfaction": "4", "credit": "5",
        "contact_name": "钱经理", "phone": "0571-86001234", "postcode": "310000", "address": "杭州市西湖区文三路1号",
        "registered_capital": "500", "annual_turnover": "1200.5", "bank": "招商银行杭州分行",
        "bank_account": "571900000000001", "tax_no": "91330100MA2XXXXX0X", "licence_no": "330100000000001",
        "legal_representative": "钱多多"}


def make(users, username: str = "manager1", **values) -> Customer:
    return customers.create_customer(user=users[username], values={"name": "测试客户", **values})


def test_create_through_the_form_numbers_the_customer(login, users):
    browser = login("manager1")
    form = page_text(browser.get("/customers/new"))
    assert 'id="customer-form"' in form and "基本信息" in form and "工商信息" in form and "财务信息" in form
    assert "保存后自动生成" in form and 'name="owner_id"' not in form  # an account manager owns what he creates
    assert '<option value="浙江省/杭州市">' in form

    response = browser.post("/customers/new", data={**FORM, "number": "KH999999"})
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer))
    assert response.headers["Location"] == f"/customers/{customer.id}"
    assert customer.number == f"KH{customer.id:06d}" and customer.owner_id == users["manager1"].id
    assert (customer.region, customer.satisfaction) == ("浙江省/杭州市", 4)
    assert customer.annual_turnover == Decimal("1200.50")
    page = page_text(browser.get(response.headers["Location"]))
    assert "已创建" in page and customer.number in page and "钱多多" in page and "招商银行杭州分行" in page

    supervisor_form = page_text(login("supervisor1").get("/customers/new"))
    assert 'name="owner_id"' in supervisor_form and "赵敏" in supervisor_form and "刘洋" not in supervisor_form


def test_wrong_input_shows_field_errors_and_creates_nothing(login):
    browser = login("manager1")
    response = browser.post("/customers/new", data={**FORM, "name": "", "satisfaction": "6", "level": "钻石",
                                                    "postcode": "abc"})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="name"' in page and "请填写客户名称" in page
    assert 'data-field-error="postcode"' in page
    response = browser.post("/customers/new", data={**FORM, "satisfaction": "6", "level": "钻石"})
    page = page_text(response)
    assert response.status_code == 422
    assert 'data-field-error="satisfaction"' in page and 'data-field-error="level"' in page
    assert 'value="钱经理"' in page  # the rest of the input is kept
    assert db.session.scalar(select(func.count(Customer.id))) == 0


def test_list_tabs_search_filters_and_sort(login, users):
    make(users, name="杭州云启科技", region="浙江省/杭州市", level="VIP")
    make(users, name="宁波港联物流", region="浙江省/宁波市")
    make(users, name="苏州恒达机械", region="江苏省/苏州市")
    make(users, "manager2", name="成都蜀味餐饮")
    browser = login("manager1")

    page = page_text(browser.get("/customers/"))
    assert 'id="tab-mine"' in page and 'id="tab-pool"' in page and 'id="new-customer"' in page
    assert 'id="export-customers"' in page and 'data-sort="name"' in page
    assert "杭州云启科技" in page and "苏州恒达机械" in page and "成都蜀味餐饮" not in page
    assert 'id="batch-transfer"' not in page  # account managers cannot transfer

    zhejiang = page_text(browser.get("/customers/?region=浙江省"))
    assert "杭州云启科技" in zhejiang and "宁波港联物流" in zhejiang and "苏州恒达机械" not in zhejiang
    assert "宁波港联物流" not in page_text(browser.get("/customers/?level=VIP"))
    assert "没有符合条件的客户" in page_text(browser.get("/customers/?q=不存在的名字"))
    by_name = page_text(browser.get("/customers/?sort=name"))
    assert 'aria-sort="ascending"' in by_name
    positions = [by_name.index(n) for n in ("宁波港联物流", "杭州云启科技", "苏州恒达机械")]
    assert positions == sorted(positions) or positions == sorted(positions, reverse=True)
    assert browser.get("/customers/?sort=drop table&region=%").status_code == 200

    supervisor = page_text(login("supervisor1").get("/customers/"))
    assert 'id="batch-transfer"' in supervisor and 'name="owner_id"' in supervisor  # owner filter
    assert "成都蜀味餐饮" not in supervisor


def test_another_managers_customer_is_a_404_everywhere(login, users):
    customer = make(users, "manager2", name="二部客户")
    browser = login("manager1")
    for path in (f"/customers/{customer.id}", f"/customers/{customer.id}/edit"):
        response = browser.get(path)
        assert response.status_code == 404 and "客户不存在或您无权查看" in page_text(response)
    for path in ("delete", "transfer", "release", "shares"):
        assert browser.post(f"/customers/{customer.id}/{path}").status_code == 404
    assert db.session.get(Customer, customer.id).owner_id == users["manager2"].id
    assert login("supervisor1").get(f"/customers/{customer.id}").status_code == 404
    assert login("director").get(f"/customers/{customer.id}").status_code == 200


def test_the_360_page_shows_linked_records_with_links(login, users):
    customer = make(users, name="云启科技", contact_name="钱经理", registered_capital="800")
    db.session.add_all([
        Contact(customer_id=customer.id, name="孙会计", gender="女", position="财务", office_phone="0571-1234567"),
        Order(number="DD20260001", customer_id=customer.id, order_date=date(2026, 3, 1), status=6,
              total=Decimal("12800")),
        Order(number="DD20260002", customer_id=customer.id, order_date=date(2026, 4, 1), status=2,
              total=Decimal("100")),
    ])
    db.session.commit()
    page = page_text(login("manager1").get(f"/customers/{customer.id}"))
    for element in ("customer-header", "customer-profile", "section-contacts", "section-interactions",
                    "section-opportunities", "section-quotes", "section-orders", "section-service", "section-churn",
                    "section-care", "section-processes", "section-attachments", "shares", "transfers"):
        assert f'id="{element}"' in page, element
    assert 'data-count="contacts">1<' in page and 'data-count="orders">1<' in page
    assert "孙会计" in page and "DD20260001" in page and "DD20260002" not in page  # history orders only
    assert f'href="/customers/{customer.id}/orders"' in page  # 全部 → the order history page
    assert "800.00" in page and customer.number in page
    for button in ("edit-customer", "release-customer", "share-customer", "delete-customer", "delete-dialog"):
        assert f'id="{button}"' in page, button
    assert 'id="transfer-customer"' not in page and 'id="claim-customer"' not in page


def test_edit_keeps_the_number_and_a_shared_reader_cannot_edit(login, users):
    customer = make(users, name="原名称")
    number = customer.number
    browser = login("manager1")
    form = page_text(browser.get(f"/customers/{customer.id}/edit"))
    assert f'value="{number}"' in form and "readonly" in form
    # A browser does not send the disabled (process-kept) status and level of an account manager's form.
    editable = {name: value for name, value in FORM.items() if name not in ("status", "level")}
    response = browser.post(f"/customers/{customer.id}/edit", data={**editable, "name": "新名称", "number": "X1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Customer, customer.id).name, db.session.get(Customer, customer.id).number) == (
        "新名称", number)

    assert browser.post(f"/customers/{customer.id}/shares", data={"user_id": users["manager2"].id}).status_code == 302
    reader = login("manager2")
    listing = page_text(reader.get("/customers/"))
    assert "新名称" in listing and 'class="badge rounded-pill text-bg-light border ms-1 shared-badge"' in listing
    page = page_text(reader.get(f"/customers/{customer.id}"))
    assert 'id="shared-marker"' in page and 'id="edit-customer"' not in page and 'id="delete-customer"' not in page
    assert reader.post(f"/customers/{customer.id}/edit", data={**FORM, "name": "偷改"}).status_code == 403
    assert reader.post(f"/customers/{customer.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "新名称"

    browser.post(f"/customers/{customer.id}/shares/{users['manager2'].id}/delete")
    assert reader.get(f"/customers/{customer.id}").status_code == 404


def test_release_claim_and_a_second_claim_is_refused(login, users):
    customer = make(users, name="公海客户")
    owner = login("manager1")
    assert owner.post(f"/customers/{customer.id}/release", data={"reason": "不再跟进"}).status_code == 302
    assert "公海客户" not in page_text(owner.get("/customers/"))

    first, second = login("manager2"), login("manager3")
    pool = page_text(first.get("/customers/?view=pool"))
    assert "公海客户" in pool and "领取" in pool
    assert first.post(f"/customers/{customer.id}/claim").headers["Location"] == f"/customers/{customer.id}"
    refused = second.post(f"/customers/{customer.id}/claim", data={"next": "/customers/?view=pool"},
                          follow_redirects=True)
    assert "该客户已被他人领取" in page_text(refused)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).owner_id == users["manager2"].id
    history = page_text(first.get(f"/customers/{customer.id}"))
    assert "不再跟进" in history and "从公海领取" in history
    assert login("ceo").get("/customers/?view=pool").status_code == 200  # no pool tab: falls back to 我的客户


def test_batch_transfer_from_the_list(login, users):
    a, b = make(users, name="甲公司"), make(users, name="乙公司")
    supervisor = login("supervisor1")
    response = supervisor.post("/customers/transfer", data={
        "ids": [a.id, b.id], "to_user_id": users["manager3"].id, "reason": "客户经理调岗", "next": "/customers/"},
        follow_redirects=True)
    assert "已转移 2 个客户" in page_text(response)
    rows = db.session.scalars(select(CustomerTransfer)).all()
    assert sorted(r.customer_id for r in rows) == [a.id, b.id] and {r.reason for r in rows} == {"客户经理调岗"}
    assert "甲公司" in page_text(login("manager3").get("/customers/"))

    refused = supervisor.post("/customers/transfer", data={"ids": [a.id], "to_user_id": users["manager2"].id},
                              follow_redirects=True)
    assert "请选择一位在职的客户经理" in page_text(refused)
    assert "请选择要转移的客户" in page_text(supervisor.post("/customers/transfer", data={
        "to_user_id": users["manager3"].id}, follow_redirects=True))


def test_delete_moves_the_customer_to_the_recycle_bin(login, users):
    customer = make(users, name="要删除的客户")
    response = login("manager1").post(f"/customers/{customer.id}/delete", follow_redirects=True)
    assert "已移入回收站" in page_text(response)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id) is None
    assert db.session.scalar(select(RecycleBinEntry.record_type)) == "customer"


def test_export_has_the_filtered_rows_with_formulas_neutralised(login, users):
    make(users, name="=HYPERLINK(\"http://evil\")", region="浙江省/杭州市")
    make(users, name="宁波港联物流", region="浙江省/宁波市", phone="+86-574-1234567")
    make(users, name="苏州恒达机械", region="江苏省/苏州市")
    make(users, "manager2", name="成都蜀味餐饮", region="浙江省/杭州市")
    browser = login("manager1")
    response = browser.get("/customers/export.xlsx?region=浙江省&sort=name")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "客户名称", "简称")
    listed = [c.name for c in customers.list_customers(user=users["manager1"], region="浙江省", sort="name").items]
    exported = [row[1] for row in rows[1:]]
    assert [name.lstrip("'") for name in exported] == listed and len(exported) == 2
    assert "'=HYPERLINK(\"http://evil\")" in exported and "成都蜀味餐饮" not in exported
    phone = next(row[9] for row in rows[1:] if row[1] == "宁波港联物流")
    assert phone == "'+86-574-1234567"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert login("agent").get("/customers/export.xlsx").status_code == 403


def test_pages_render_in_english(login, users):
    customer = make(users, name="云启科技")
    browser = login("manager1")
    browser.post("/language", data={"locale": "en", "next": "/customers/"})
    for path in ("/customers/", f"/customers/{customer.id}", "/customers/new", f"/customers/{customer.id}/edit"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert 'lang="en"' in page_text(response)
