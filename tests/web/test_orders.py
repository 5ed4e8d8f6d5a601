"""Order pages: a customer's history (scope, paging, lines, export), order detail, the import journey."""
from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, Order, OrderLine

from .helpers import page_text

HEADERS = ["订单号", "客户编号", "下单日期", "状态", "产品名称", "数量", "单价"]


def customer(users, username: str, name: str, number: str) -> int:
    record = Customer(name=name, number=number, owner_id=users[username].id)
    db.session.add(record)
    db.session.commit()
    return record.id


def order(customer_id: int, number: str, day: date, status: int, quantity: int = 1, price: str = "100") -> int:
    amount = Decimal(price) * quantity
    record = Order(number=number, customer_id=customer_id, order_date=day, status=status, total=amount,
                   lines=[OrderLine(product_name="办公软件", quantity=quantity, unit_price=Decimal(price),
                                    amount=amount)])
    db.session.add(record)
    db.session.commit()
    return record.id


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    book.active.append(HEADERS)
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def order_count() -> int:
    return db.session.scalar(select(func.count(Order.id)))


def test_history_shows_only_shipped_and_paid_orders_newest_first_with_lines(login, users):
    cid = customer(users, "manager1", "杭州云启科技", "KH000001")
    order(cid, "DD-OLD", date(2026, 1, 5), 5, 2, "1200.50")
    order(cid, "DD-NEW", date(2026, 3, 5), 6)
    order(cid, "DD-DRAFT", date(2026, 4, 5), 1)
    page = page_text(login("manager1").get(f"/customers/{cid}/orders"))
    assert "DD-NEW" in page and "DD-OLD" in page and "DD-DRAFT" not in page
    assert page.index("DD-NEW") < page.index("DD-OLD")
    assert "¥2,401.00" in page and "已回款" in page and "已发货" in page
    assert 'id="lines-' in page and 'id="export-history"' in page


def test_history_is_paged(login, users):
    cid = customer(users, "manager1", "杭州云启科技", "KH000001")
    start = date(2026, 1, 1)
    for n in range(25):
        order(cid, f"DD{n:03d}", start + timedelta(days=n), 5)
    browser = login("manager1")
    first = page_text(browser.get(f"/customers/{cid}/orders"))
    assert "DD024" in first and "DD005" in first and "DD004" not in first
    second = page_text(browser.get(f"/customers/{cid}/orders?page=2"))
    assert "DD004" in second and "DD000" in second and "DD024" not in second


def test_another_managers_customer_orders_are_404(login, users):
    cid = customer(users, "manager2", "成都蜀味餐饮", "KH000002")
    oid = order(cid, "DD-SECRET", date(2026, 1, 5), 6)
    browser = login("manager1")
    for url in (f"/customers/{cid}/orders", f"/orders/{oid}", f"/customers/{cid}/orders/export.xlsx"):
        response = browser.get(url)
        assert response.status_code == 404 and "DD-SECRET" not in page_text(response)
    assert login("manager2").get(f"/orders/{oid}").status_code == 200


def test_order_detail_shows_lines_and_total(login, users):
    cid = customer(users, "manager1", "杭州云启科技", "KH000001")
    oid = order(cid, "DD100", date(2026, 1, 5), 5, 3, "99.90")
    page = page_text(login("manager1").get(f"/orders/{oid}"))
    assert "DD100" in page and "杭州云启科技" in page and 'id="order-total">¥299.70<' in page


def test_history_export(login, users):
    cid = customer(users, "manager1", "杭州云启科技", "KH000001")
    order(cid, "DD1", date(2026, 1, 5), 5, 2, "10")
    order(cid, "DD2", date(2026, 2, 5), 2)
    response = login("manager1").get(f"/customers/{cid}/orders/export.xlsx")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "订单号" and len(rows) == 2 and rows[1][0] == "DD1" and rows[1][2] == "已发货"


def test_import_journey_preview_then_commit(login, users):
    customer(users, "manager1", "杭州云启科技", "KH000001")
    browser = login("director")
    assert 'id="upload-form"' in page_text(browser.get("/orders/import"))
    data = xlsx([["DD900", "KH000001", "2026-01-05", "已发货", "办公软件", 2, "100"],
                 ["DD900", "KH000001", "2026-01-05", "已发货", "培训", 1, "50"]])
    preview = browser.post("/orders/import", data={"file": (io.BytesIO(data), "订单.xlsx")},
                           content_type="multipart/form-data")
    page = page_text(preview)
    assert preview.status_code == 200 and 'id="commit-import"' in page and "全部检查通过" in page
    assert order_count() == 0
    action = page.split('action="/orders/import/')[1].split('"')[0]
    done = browser.post(f"/orders/import/{action}", follow_redirects=True)
    assert "已导入 1 个订单" in page_text(done) and order_count() == 1
    assert db.session.scalar(select(Order.total)) == Decimal("250.00")
    again = browser.post(f"/orders/import/{action}", follow_redirects=True)
    assert "此文件已导入" in page_text(again) and order_count() == 1


def test_import_with_errors_shows_each_row_and_offers_no_commit(login, users):
    customer(users, "manager1", "杭州云启科技", "KH000001")
    browser = login("director")
    data = xlsx([["DD901", "KH000001", "2026-01-05", "已发货", "办公软件", 2, "100"],
                 ["DD902", "KH404", "昨天", "完成", "办公软件", 0, "100"]])
    page = page_text(browser.post("/orders/import", data={"file": (io.BytesIO(data), "bad.xlsx")},
                                  content_type="multipart/form-data"))
    assert 'id="commit-import"' not in page and 'id="import-blocked"' in page
    assert 'data-row="3"' in page and "客户编号 KH404 不存在" in page and "数量应为大于 0 的整数" in page
    assert order_count() == 0


def test_broken_or_missing_upload_is_a_clear_error(login):
    browser = login("director")
    broken = browser.post("/orders/import", data={"file": (io.BytesIO(b"garbage"), "x.xlsx")},
                          content_type="multipart/form-data")
    assert broken.status_code == 422 and "不是有效的 Excel" in page_text(broken)
    wrong = browser.post("/orders/import", data={"file": (io.BytesIO(b"x"), "x.docx")},
                         content_type="multipart/form-data")
    assert wrong.status_code == 422 and "只支持 .xlsx 和 .csv 文件" in page_text(wrong)
    missing = browser.post("/orders/import", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "请选择要上传的文件" in page_text(missing)


def test_import_is_refused_without_order_import(login):
    browser = login("manager1")
    assert browser.get("/orders/import").status_code == 403
    assert browser.post("/orders/import", data={"file": (io.BytesIO(xlsx([])), "x.xlsx")},
                        content_type="multipart/form-data").status_code == 403
