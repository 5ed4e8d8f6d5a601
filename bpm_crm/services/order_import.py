"""Order import into the built-in sales system: upload → preview with every row's errors → all-or-nothing commit.

One spreadsheet row is one order line; rows with the same 订单号 form one order whose total is the sum of its
lines. The uploaded rows wait in an ImportJob (kind "orders") between preview and commit; the commit checks
everything again, so a file that became wrong in between (an order number imported meanwhile) writes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bpm_crm import clock
from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import ORDER_STATUS_LABELS, Customer, ImportJob, Order, OrderLine, Product, User
from bpm_crm.services import churn_scan, excel, levels, permissions
from bpm_crm.services.transaction import unit_of_work

KIND = "orders"
CHUNK = 900

# field -> accepted column headers (the first is the one the template shows)
COLUMNS: dict[str, tuple[str, ...]] = {
    "number": ("订单号", "订单编号", "单号"),
    "customer_number": ("客户编号", "客户编码"),
    "customer_name": ("客户名称", "客户", "客户名"),
    "order_date": ("下单日期", "订单日期", "日期"),
    "status": ("状态", "订单状态"),
    "product_name": ("产品名称", "产品", "品名"),
    "product_code": ("产品编码", "产品编号"),
    "quantity": ("数量",),
    "unit_price": ("单价", "价格"),
    "address": ("收货地址", "地址"),
}
TEMPLATE_HEADERS = ["订单号", "客户编号", "客户名称", "下单日期", "状态", "产品编码", "产品名称", "数量", "单价",
                    "收货地址"]
STATUS_BY_LABEL = {label: number for number, label in ORDER_STATUS_LABELS.items()}
DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
MAX_PRICE = Decimal("1e11")


@dataclass
class RowCheck:
    """One spreadsheet row: its line number in the file, its values by field, what is wrong with it."""

    row: int
    values: dict[str, str]
    errors: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """What a commit would write, or why it cannot."""

    job_id: int
    filename: str
    rows: list[RowCheck]
    orders: int
    lines: int
    status: str

    @property
    def error_rows(self) -> list[RowCheck]:
        return [row for row in self.rows if row.errors]

    @property
    def ok(self) -> bool:
        return not self.error_rows


@dataclass(frozen=True)
class ImportResult:
    """What a commit wrote."""

    job_id: int
    orders: int
    lines: int
    customers: int
    levels_changed: int


@dataclass
class _Parsed:
    check: RowCheck
    customer_id: int | None = None
    order_date: date | None = None
    status: int | None = None
    product_id: int | None = None
    product_name: str = ""
    quantity: int = 0
    unit_price: Decimal = Decimal(0)


def _mapping(headers: list[str]) -> dict[str, int]:
    """Field -> column index; Invalid when a required column is missing."""
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = header.strip().replace(" ", "")
        for key, aliases in COLUMNS.items():
            if name in aliases and key not in found:
                found[key] = index
    missing = [COLUMNS[key][0] for key in ("number", "order_date", "status", "quantity", "unit_price")
               if key not in found]
    if "customer_number" not in found and "customer_name" not in found:
        missing.append("客户编号或客户名称")
    if "product_name" not in found and "product_code" not in found:
        missing.append("产品名称或产品编码")
    if missing:
        # Quoted as the titles the file needs: a bare title such as 单价 would be translated like a message.
        columns = "、".join(f"“{title}”" for title in missing)
        raise Invalid("缺少列：%(columns)s", {"file": [str(_("缺少列：%(columns)s", columns=columns))]},
                      code="import_columns_missing", columns=columns)
    return found


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


def _parse_date(text: str, today: date) -> tuple[date | None, str | None]:
    match = DATE.match(text)
    if not match:
        return None, "下单日期格式不正确（应为 YYYY-MM-DD）"
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None, "下单日期不存在"
    if day > today:
        return None, "下单日期不能晚于今天"
    return day, None


def _parse_status(text: str) -> int | None:
    if text.isdigit() and int(text) in ORDER_STATUS_LABELS:
        return int(text)
    return STATUS_BY_LABEL.get(text)


def check_rows(*, user: User, headers: list[str], rows: list[list[str]]) -> tuple[list[_Parsed], int, int]:
    """Every row checked against the database; (rows, order count, line count)."""
    columns = _mapping(headers)
    parsed: list[_Parsed] = []
    for index, raw in enumerate(rows):
        if not any(cell.strip() for cell in raw):
            continue
        values = {key: (raw[col].strip() if col < len(raw) else "") for key, col in columns.items()}
        parsed.append(_Parsed(check=RowCheck(row=index + 2, values=values)))
    if not parsed:
        raise Invalid("文件没有数据行", {"file": ["文件没有数据行"]})

    def wanted(key: str) -> list[str]:
        return sorted({p.check.values.get(key, "") for p in parsed} - {""})

    by_number: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for chunk in _chunks(wanted("customer_number")):
        for cid, number in db.session.execute(select(Customer.id, Customer.number).where(Customer.number.in_(chunk))):
            by_number.setdefault(str(number), []).append(cid)
    for chunk in _chunks(wanted("customer_name")):
        for cid, name in db.session.execute(select(Customer.id, Customer.name).where(Customer.name.in_(chunk))):
            by_name.setdefault(name, []).append(cid)
    found_ids = sorted({cid for ids in (*by_number.values(), *by_name.values()) for cid in ids})
    writable: set[int] = set()
    clause = permissions.customer_clause(user, "customer.update")
    for id_chunk in [found_ids[i:i + CHUNK] for i in range(0, len(found_ids), CHUNK)]:
        writable.update(db.session.scalars(select(Customer.id).where(Customer.id.in_(id_chunk), clause)))
    products_by_code: dict[str, tuple[int, str]] = {}
    products_by_name: dict[str, int] = {}
    for chunk in _chunks(wanted("product_code")):
        for pid, code, name in db.session.execute(
                select(Product.id, Product.code, Product.name).where(Product.code.in_(chunk))):
            products_by_code[code] = (pid, name)
    for chunk in _chunks(wanted("product_name")):
        for pid, name in db.session.execute(select(Product.id, Product.name).where(Product.name.in_(chunk))):
            products_by_name.setdefault(name, pid)
    existing: set[str] = set()
    for chunk in _chunks(wanted("number")):
        existing.update(db.session.scalars(select(Order.number).where(Order.number.in_(chunk))))

    today = clock.today(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    for p in parsed:
        v, errors = p.check.values, p.check.errors
        number = v.get("number", "")
        if not number:
            errors.append("订单号不能为空")
        elif len(number) > 30:
            errors.append("订单号不能超过 30 个字符")
        elif number in existing:
            errors.append(str(_("订单号 %(number)s 已存在，不能重复导入", number=number)))
        p.customer_id = _customer(v, by_number, by_name, writable, errors)
        if v.get("order_date"):
            p.order_date, problem = _parse_date(v["order_date"], today)
            if problem:
                errors.append(problem)
        else:
            errors.append("下单日期不能为空")
        p.status = _parse_status(v.get("status", ""))
        if p.status is None:
            errors.append("状态应为 1–6 或 新建、已审核、备货中、部分发货、已发货、已回款")
        code, name = v.get("product_code", ""), v.get("product_name", "")
        if code:
            if code in products_by_code:
                p.product_id, p.product_name = products_by_code[code]
            else:
                errors.append(str(_("产品编码 %(code)s 不存在", code=code)))
        elif name:
            p.product_id, p.product_name = products_by_name.get(name), name
            if len(name) > 120:
                errors.append("产品名称不能超过 120 个字符")
        else:
            errors.append("产品名称或产品编码不能为空")
        try:
            p.quantity = int(v.get("quantity", ""))
            if p.quantity <= 0:
                raise ValueError
        except ValueError:
            errors.append("数量应为大于 0 的整数")
        try:
            p.unit_price = Decimal(v.get("unit_price", "").replace(",", ""))
            if not p.unit_price.is_finite() or p.unit_price < 0 or p.unit_price >= MAX_PRICE:
                raise InvalidOperation
            p.unit_price = p.unit_price.quantize(Decimal("0.01"))
        except InvalidOperation:
            errors.append("单价应为不小于 0 的数字")
        if len(v.get("address", "")) > 200:
            errors.append("收货地址不能超过 200 个字符")

    groups: dict[str, list[_Parsed]] = {}
    for p in parsed:
        if p.check.values.get("number"):
            groups.setdefault(p.check.values["number"], []).append(p)
    for lines in groups.values():
        first = lines[0]
        for p in lines[1:]:
            if (p.customer_id, p.order_date, p.status) != (first.customer_id, first.order_date, first.status):
                p.check.errors.append(str(_("与第 %(row)s 行同属一个订单，但客户、下单日期或状态不一致",
                                            row=first.check.row)))
    return parsed, len(groups), len(parsed)


def _customer(values: dict[str, str], by_number: dict[str, list[int]], by_name: dict[str, list[int]],
              writable: set[int], errors: list[str]) -> int | None:
    number, name = values.get("customer_number", ""), values.get("customer_name", "")
    if number:
        ids = by_number.get(number, [])
        if not ids:
            errors.append(str(_("客户编号 %(number)s 不存在", number=number)))
            return None
    elif name:
        ids = by_name.get(name, [])
        if not ids:
            errors.append(str(_("客户 %(name)s 不存在", name=name)))
            return None
        if len(ids) > 1:
            errors.append(str(_("有多个客户名为 %(name)s，请填写客户编号", name=name)))
            return None
    else:
        errors.append("客户编号或客户名称不能为空")
        return None
    if ids[0] not in writable:
        errors.append("该客户不在您的权限范围内")
        return None
    return ids[0]


def _job(job_id: int, user: User) -> ImportJob:
    job = db.session.scalar(select(ImportJob).where(ImportJob.id == job_id, ImportJob.user_id == user.id,
                                                    ImportJob.kind == KIND))
    if job is None:
        raise NotFound("导入任务不存在或您无权查看")
    return job


def _preview(job: ImportJob, user: User) -> Preview:
    if job.status == "committed":
        result = job.result or {}
        return Preview(job_id=job.id, filename=job.filename, rows=[], orders=int(result.get("orders", 0)),
                       lines=int(result.get("lines", 0)), status=job.status)
    parsed, orders, lines = check_rows(user=user, headers=job.headers, rows=job.rows)
    return Preview(job_id=job.id, filename=job.filename, rows=[p.check for p in parsed], orders=orders,
                   lines=lines, status=job.status)


@unit_of_work
def upload(*, user: User, data: bytes, filename: str) -> Preview:
    """Read an uploaded .xlsx/.csv, keep its rows in an import job and check every row; writes no order."""
    permissions.require(user, "order.import")
    table = excel.read_table(data, filename)
    _mapping(table.headers)
    job = ImportJob(user_id=user.id, kind=KIND, filename=filename[:255] or "orders.xlsx", headers=table.headers,
                    rows=table.rows, mapping={}, status="uploaded")
    db.session.add(job)
    db.session.flush()
    return _preview(job, user)


def preview(*, user: User, job_id: int) -> Preview:
    """The check of an uploaded file again (rows may have become wrong since the upload)."""
    permissions.require(user, "order.import")
    return _preview(_job(job_id, user), user)


@unit_of_work
def commit(*, user: User, job_id: int) -> ImportResult:
    """Write every order of the job, or none if any row is wrong; then apply the level rules; commits."""
    permissions.require(user, "order.import")
    job = _job(job_id, user)
    if job.status == "committed":
        raise Conflict("此文件已导入，不能重复提交")
    parsed, _orders, _lines = check_rows(user=user, headers=job.headers, rows=job.rows)
    bad = [p.check for p in parsed if p.check.errors]
    if bad:
        raise Invalid("有 %(count)s 行错误，未导入任何订单；请修改文件后重新上传",
                      {f"row {c.row}": c.errors for c in bad[:200]}, code="order_import_rows_invalid", count=len(bad))
    orders = write_orders(parsed)
    customer_ids = {order.customer_id for order in orders}
    followed = after_new_orders(customer_ids=customer_ids, user=user)
    job.status = "committed"
    job.result = {"orders": len(orders), "lines": len(parsed), "customers": len(customer_ids),
                  "levels_changed": followed.levels_changed}
    return ImportResult(job_id=job.id, orders=len(orders), lines=len(parsed), customers=len(customer_ids),
                        levels_changed=followed.levels_changed)


def write_orders(parsed: list[_Parsed]) -> list[Order]:
    """The orders of checked rows (rows with the same number are one order's lines), added and flushed."""
    orders: dict[str, Order] = {}
    for p in parsed:
        number = p.check.values["number"]
        order = orders.get(number)
        if order is None:
            assert p.customer_id is not None and p.order_date is not None and p.status is not None
            order = Order(number=number, customer_id=p.customer_id, order_date=p.order_date, status=p.status,
                          total=Decimal(0), address=p.check.values.get("address") or None)
            orders[number] = order
            db.session.add(order)
        amount = (p.unit_price * p.quantity).quantize(Decimal("0.01"))
        order.lines.append(OrderLine(product_id=p.product_id, product_name=p.product_name, quantity=p.quantity,
                                     unit_price=p.unit_price, amount=amount))
        order.total += amount
    try:
        db.session.flush()
    except IntegrityError as exc:  # someone imported one of these order numbers a moment ago
        raise Conflict("有订单号刚被他人导入，未导入任何订单；请重新上传") from exc
    return list(orders.values())


@dataclass(frozen=True)
class NewOrdersFollowed:
    """What new orders changed besides themselves."""

    levels_changed: int
    warnings_closed: int


def after_new_orders(*, customer_ids: set[int], user: User | None) -> NewOrdersFollowed:
    """What follows new orders, however they came (import or sales system): the customers' levels by the rules,
    and their open churn warnings closed — each warning's process catches `order_placed`. Joins the transaction."""
    changed = levels.apply_rules(customer_ids=customer_ids, user_id=user.id if user else None)
    closed = churn_scan.orders_placed(customer_ids=customer_ids, user=user)
    return NewOrdersFollowed(levels_changed=changed.changed, warnings_closed=closed)


MAX_REPORTED_ORDERS = 500
MAX_REPORTED_LINES = 200


def _cell(value: object) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def record_reported(*, user: User, orders: object) -> tuple[list[Order], list[str]]:
    """Orders a sales system reports as placed, checked as the import checks its rows and written all or none:
    (the orders written, the numbers it had reported before — left as they are). Joins the transaction."""
    if not isinstance(orders, list) or not orders or len(orders) > MAX_REPORTED_ORDERS:
        message = str(_("应为 1 到 %(count)s 个订单", count=MAX_REPORTED_ORDERS))
        raise Invalid(message, {"orders": [message]})
    numbers = sorted({_cell(order.get("number")) for order in orders if isinstance(order, dict)} - {""})
    known: set[str] = set()
    for chunk in _chunks(numbers):
        known.update(db.session.scalars(select(Order.number).where(Order.number.in_(chunk))))
    errors: dict[str, list[str]] = {}
    rows: list[list[str]] = []
    order_of_row: list[int] = []
    for index, order in enumerate(orders):
        if not isinstance(order, dict):
            errors[f"orders[{index}]"] = ["订单应为对象"]
            continue
        if not _cell(order.get("number")):
            errors[f"orders[{index}]"] = ["订单号不能为空"]
            continue
        if _cell(order.get("number")) in known:
            continue
        lines = order.get("lines")
        if not isinstance(lines, list) or not lines or len(lines) > MAX_REPORTED_LINES:
            errors[f"orders[{index}]"] = [str(_("订单应有 1 到 %(count)s 行明细", count=MAX_REPORTED_LINES))]
            continue
        for line in lines:
            line = line if isinstance(line, dict) else {}
            rows.append([_cell(order.get("number")), _cell(order.get("customer_number")),
                         _cell(order.get("customer_name")), _cell(order.get("order_date")),
                         _cell(order.get("status")), _cell(line.get("product_code")), _cell(line.get("product_name")),
                         _cell(line.get("quantity")), _cell(line.get("unit_price")), _cell(order.get("address"))])
            order_of_row.append(index)
    parsed = check_rows(user=user, headers=TEMPLATE_HEADERS, rows=rows)[0] if rows else []
    for p in parsed:
        for message in p.check.errors:
            found = errors.setdefault(f"orders[{order_of_row[p.check.row - 2]}]", [])
            if message not in found:
                found.append(message)
    if errors:
        raise Invalid("有 %(count)s 个订单有错误，未记录任何订单", errors, code="reported_orders_invalid",
                      count=len(errors))
    return write_orders(parsed), sorted(known)
