"""Order import: every row checked before anything is written, all-or-nothing commit, duplicates refused."""
from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, ImportJob, LevelRule, Order, OrderLine, Product
from bpm_crm.services import order_import

HEADERS = ["订单号", "客户编号", "客户名称", "下单日期", "状态", "产品名称", "数量", "单价"]


def xlsx(rows: list[list[object]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[str]], headers: list[str] = HEADERS, encoding: str = "utf-8-sig") -> bytes:
    return "\n".join(",".join(row) for row in [headers, *rows]).encode(encoding)


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count(Order.id))), db.session.scalar(select(func.count(OrderLine.id))))


@pytest.fixture
def setup(users):
    clock.freeze(datetime(2026, 6, 15, 9, 0, tzinfo=UTC))
    db.session.add_all([
        Customer(name="杭州云启科技", number="KH000001", owner_id=users["manager1"].id),
        Customer(name="苏州恒达机械", number="KH000002", owner_id=users["manager1"].id),
        Customer(name="成都蜀味餐饮", number="KH000003", owner_id=users["manager2"].id),
        Product(code="P001", name="办公软件标准版", price=Decimal("1200")),
    ])
    db.session.commit()
    return users


GOOD = [
    ["DD001", "KH000001", "", "2026-01-05", "已发货", "办公软件标准版", 2, "1200"],
    ["DD001", "KH000001", "", "2026-01-05", "已发货", "安装服务", 1, "300.50"],
    ["DD002", "", "苏州恒达机械", "2026/03/01", 6, "办公软件标准版", 10, "1100"],
    ["DD003", "KH000003", "", "2026-05-20", "3", "收银系统", 1, "5000"],
]


def test_a_good_file_is_previewed_then_committed_with_lines_and_totals(setup):
    director = setup["director"]
    preview = order_import.upload(user=director, data=xlsx(GOOD), filename="订单.xlsx")
    assert preview.ok and preview.orders == 3 and preview.lines == 4
    assert counts() == (0, 0)  # the preview writes no order
    assert db.session.get(ImportJob, preview.job_id).kind == "orders"

    result = order_import.commit(user=director, job_id=preview.job_id)
    assert (result.orders, result.lines, result.customers) == (3, 4, 3)
    first = db.session.scalar(select(Order).where(Order.number == "DD001"))
    assert first.total == Decimal("2700.50") and first.status == 5 and first.order_date.isoformat() == "2026-01-05"
    assert [(line.product_name, line.quantity, line.amount) for line in first.lines] == [
        ("办公软件标准版", 2, Decimal("2400.00")), ("安装服务", 1, Decimal("300.50"))]
    assert first.lines[0].product_id is not None and first.lines[1].product_id is None
    second = db.session.scalar(select(Order).where(Order.number == "DD002"))
    assert second.status == 6 and second.total == Decimal("11000.00") and second.customer.number == "KH000002"

    with pytest.raises(Conflict):  # a double submit
        order_import.commit(user=director, job_id=preview.job_id)
    assert counts() == (3, 4)


def test_preview_lists_every_rows_errors_and_writes_nothing(setup):
    rows = [
        ["DD010", "KH999999", "", "2026-01-05", "已发货", "办公软件标准版", 1, "100"],  # unknown customer
        ["DD011", "", "不存在的公司", "2026-01-05", "已发货", "办公软件标准版", 1, "100"],
        ["DD012", "KH000001", "", "2026-13-40", "已发货", "办公软件标准版", 1, "100"],  # bad date
        ["DD013", "KH000001", "", "2026-01-05", "已完成", "办公软件标准版", 1, "100"],  # bad status
        ["DD014", "KH000001", "", "2026-01-05", "9", "办公软件标准版", 0, "100"],  # bad status, quantity 0
        ["DD015", "KH000001", "", "2026-01-05", "5", "办公软件标准版", -2, "abc"],
        ["", "KH000001", "", "2026-01-05", "5", "", 1, "100"],
        ["DD016", "KH000001", "", "2026-01-05", "5", "办公软件标准版", 1, "100"],  # correct
    ]
    preview = order_import.upload(user=setup["director"], data=xlsx(rows), filename="bad.xlsx")
    errors = {row.row: row.errors for row in preview.rows}
    assert errors[2] == ["客户编号 KH999999 不存在"]
    assert errors[3] == ["客户 不存在的公司 不存在"]
    assert errors[4] == ["下单日期不存在"]
    assert errors[5] == ["状态应为 1–6 或 新建、已审核、备货中、部分发货、已发货、已回款"]
    assert len(errors[6]) == 2 and "数量应为大于 0 的整数" in errors[6]
    assert set(errors[7]) == {"数量应为大于 0 的整数", "单价应为不小于 0 的数字"}
    assert set(errors[8]) == {"订单号不能为空", "产品名称或产品编码不能为空"}
    assert errors[9] == [] and not preview.ok and len(preview.error_rows) == 7
    with pytest.raises(Invalid, match="有 7 行错误"):
        order_import.commit(user=setup["director"], job_id=preview.job_id)
    assert counts() == (0, 0)


def test_one_bad_row_writes_nothing(setup):
    rows = [*GOOD, ["DD004", "KH000001", "", "2026-02-30", "已发货", "办公软件标准版", 1, "100"]]
    preview = order_import.upload(user=setup["director"], data=xlsx(rows), filename="one-bad.xlsx")
    assert [row.row for row in preview.error_rows] == [6]
    with pytest.raises(Invalid):
        order_import.commit(user=setup["director"], job_id=preview.job_id)
    assert counts() == (0, 0)


def test_importing_the_same_file_twice_refuses_the_duplicates(setup):
    data = csv_bytes([[str(cell) for cell in row] for row in GOOD])
    first = order_import.upload(user=setup["director"], data=data, filename="orders.csv")
    order_import.commit(user=setup["director"], job_id=first.job_id)
    again = order_import.upload(user=setup["director"], data=data, filename="orders.csv")
    assert len(again.error_rows) == 4
    assert "订单号 DD001 已存在，不能重复导入" in again.rows[0].errors
    with pytest.raises(Invalid):
        order_import.commit(user=setup["director"], job_id=again.job_id)
    assert counts() == (3, 4)


def test_a_number_imported_between_preview_and_commit_stops_the_commit(setup):
    preview = order_import.upload(user=setup["director"], data=xlsx(GOOD), filename="a.xlsx")
    customer_id = db.session.scalar(select(Customer.id).where(Customer.number == "KH000001"))
    db.session.add(Order(number="DD002", customer_id=customer_id, order_date=clock.now().date(), status=5))
    db.session.commit()
    with pytest.raises(Invalid):
        order_import.commit(user=setup["director"], job_id=preview.job_id)
    assert counts() == (1, 0)


def test_customers_outside_the_importers_scope_are_errors(setup, users):
    # An account manager with order.import granted (own scope) may import only his own customers.
    from bpm_crm.models import Role, RolePermission

    role = db.session.scalar(select(Role).where(Role.code == "account_manager"))
    role.permissions.append(RolePermission(action="order.import", scope="own"))
    db.session.commit()
    preview = order_import.upload(user=users["manager1"], data=xlsx(GOOD), filename="mixed.xlsx")
    assert [row.row for row in preview.error_rows] == [5]
    assert preview.error_rows[0].errors == ["该客户不在您的权限范围内"]


def test_rows_of_one_order_must_agree(setup):
    rows = [GOOD[0], ["DD001", "KH000002", "", "2026-01-05", "已发货", "安装服务", 1, "300"]]
    preview = order_import.upload(user=setup["director"], data=xlsx(rows), filename="x.xlsx")
    assert preview.error_rows[0].row == 3
    assert preview.error_rows[0].errors == ["与第 2 行同属一个订单，但客户、下单日期或状态不一致"]


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "orders.xlsx", "文件是空的"),
    (b"not a zip at all", "orders.xlsx", "不是有效的 Excel"),
    (b"%PDF-1.4", "orders.pdf", "只支持 .xlsx 和 .csv 文件"),
    ("订单号,数量\n".encode(), "orders.csv", "文件只有标题行"),
    ("订单号,数量\nDD1,1\n".encode(), "orders.csv", "缺少列"),
])
def test_broken_empty_or_wrong_files_get_a_clear_error(setup, data, filename, message):
    with pytest.raises(Invalid, match=message):
        order_import.upload(user=setup["director"], data=data, filename=filename)
    assert db.session.scalar(select(func.count(ImportJob.id))) == 0


def test_import_needs_order_import_and_jobs_are_private(setup, users):
    with pytest.raises(Forbidden):
        order_import.upload(user=users["manager1"], data=xlsx(GOOD), filename="a.xlsx")
    preview = order_import.upload(user=users["director"], data=xlsx(GOOD), filename="a.xlsx")
    with pytest.raises(NotFound):
        order_import.commit(user=users["admin"], job_id=preview.job_id)


def test_commit_applies_the_level_rules_to_the_imported_customers(setup):
    db.session.add(LevelRule(level="VIP", min_total=Decimal("10000"), months=12, active=True))
    db.session.commit()
    preview = order_import.upload(user=setup["director"], data=xlsx(GOOD), filename="a.xlsx")
    result = order_import.commit(user=setup["director"], job_id=preview.job_id)
    assert result.levels_changed == 1  # DD002 (11,000, paid); DD003 is only 备货中
    levels = dict(db.session.execute(select(Customer.number, Customer.level)).all())
    assert levels == {"KH000001": "普通", "KH000002": "VIP", "KH000003": "普通"}


def test_a_gbk_csv_from_chinese_excel_is_read(setup):
    rows = [["DD100", "KH000001", "", "2026-01-05", "已回款", "办公软件标准版", "1", "1200"]]
    preview = order_import.upload(user=setup["director"], data=csv_bytes(rows, encoding="gb18030"),
                                  filename="订单.CSV")
    assert preview.ok and preview.orders == 1
    order_import.commit(user=setup["director"], job_id=preview.job_id)
    assert db.session.scalar(select(Order.status).where(Order.number == "DD100")) == 6


def test_an_order_of_today_is_not_in_the_future_before_eight_in_the_morning(setup):
    # 07:30 in Shanghai on 1 December is still 30 November in UTC.
    clock.freeze(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    rows = [["DD020", "KH000001", "", "2026-12-01", "已发货", "办公软件标准版", 1, "100"],
            ["DD021", "KH000001", "", "2026-12-02", "已发货", "办公软件标准版", 1, "100"]]
    preview = order_import.upload(user=setup["director"], data=xlsx(rows), filename="今日.xlsx")
    errors = {row.row: row.errors for row in preview.rows}
    assert errors[2] == [] and errors[3] != []
