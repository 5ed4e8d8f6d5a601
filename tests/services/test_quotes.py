"""Quotes: line maths, totals, draft-only editing, validation, customer scope, recycle bin."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Contact, Customer, Product, Quote, QuoteLine, QuoteStatus, RecycleBinEntry
from bpm_crm.services import attachments, quotes, recycle


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id if owner else None)
    db.session.add(record)
    db.session.flush()
    record.number = f"KH{record.id:06d}"
    db.session.commit()
    return record


def contact(of: Customer, name="钱经理") -> Contact:
    record = Contact(customer_id=of.id, name=name, gender="男", position="采购经理", office_phone="0571-88886666")
    db.session.add(record)
    db.session.commit()
    return record


def header(of: Customer, **changes) -> dict:
    return {"customer_id": of.id, "name": "办公软件报价", "quote_date": date(2026, 11, 20), **changes}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(("quantity", "price", "pct", "amount"), [
    (3, "19.99", "12.5", "52.47"),     # 59.97 × 0.875 = 52.47375
    (1, "0.05", "50", "0.03"),         # 0.025 rounds half up, not to even
    (7, "1.15", "0", "8.05"),
    (2, "100.00", "100", "0.00"),
    (1, "0.01", "0.5", "0.01"),        # 0.00995 → 0.01
])
def test_line_amount_is_quantity_times_price_less_discount_rounded_half_up(quantity, price, pct, amount):
    result = quotes.line_amount(quantity=quantity, unit_price=Decimal(price), discount_pct=Decimal(pct))
    assert result == Decimal(amount) and result.as_tuple().exponent == -2


def test_total_is_recomputed_on_every_change_and_stored(users):
    manager = users["manager1"]
    mine = customer(manager)
    quote = quotes.create_quote(user=manager, values=header(mine, contact_id=contact(mine).id), lines=[
        {"product_name": "办公软件标准版", "quantity": 200, "unit_price": "1280.00", "discount_pct": "15"},
        {"product_name": "实施服务", "quantity": "3", "unit_price": 19.99, "discount_pct": "12.5"},
    ])
    assert quote.number == f"BJ{quote.id:06d}" and quote.status == QuoteStatus.DRAFT
    assert quote.total == Decimal("217600.00") + Decimal("52.47")

    line = quotes.add_line(quote_id=quote.id, user=manager, values={
        "product_name": "培训", "quantity": 1, "unit_price": "0.05", "discount_pct": "50"})
    assert line.amount == Decimal("0.03")
    first = quote.lines[0].id
    quotes.update_line(quote_id=quote.id, line_id=first, user=manager, values={"quantity": 100})
    quotes.delete_line(quote_id=quote.id, line_id=quote.lines[1].id, user=manager)

    db.session.expire_all()
    stored = db.session.get(Quote, quote.id)
    assert [(x.product_name, x.amount) for x in stored.lines] == [
        ("办公软件标准版", Decimal("108800.00")), ("培训", Decimal("0.03"))]
    assert stored.lines[0].unit_price == Decimal("1280.00") and stored.lines[0].discount_pct == Decimal("15")
    assert stored.total == Decimal("108800.03")


def test_a_catalog_product_gives_the_line_its_name(users):
    manager = users["manager1"]
    product = Product(code="P-001", name="智能考勤机", model="K20", price=Decimal("899.00"))
    db.session.add(product)
    db.session.commit()
    quote = quotes.create_quote(user=manager, values=header(customer(manager)))
    line = quotes.add_line(quote_id=quote.id, user=manager,
                           values={"product_id": product.id, "quantity": 2, "unit_price": "850"})
    assert line.product_name == "智能考勤机" and line.product_id == product.id and line.amount == Decimal("1700.00")
    with pytest.raises(Invalid) as err:
        quotes.add_line(quote_id=quote.id, user=manager, values={"product_id": 999999, "quantity": 1,
                                                                 "unit_price": "1"})
    assert "product_id" in err.value.field_errors


def test_only_drafts_can_be_changed_or_deleted(users):
    manager = users["manager1"]
    quote = quotes.create_quote(user=manager, values=header(customer(manager)), lines=[
        {"product_name": "软件", "quantity": 1, "unit_price": "100"}])
    line_id = quote.lines[0].id
    quote.status = QuoteStatus.PENDING.value
    db.session.commit()

    attempts = [
        lambda: quotes.update_quote(quote_id=quote.id, user=manager, values={"name": "改名"}),
        lambda: quotes.add_line(quote_id=quote.id, user=manager,
                                values={"product_name": "加项", "quantity": 1, "unit_price": "1"}),
        lambda: quotes.update_line(quote_id=quote.id, line_id=line_id, user=manager, values={"quantity": 9}),
        lambda: quotes.delete_line(quote_id=quote.id, line_id=line_id, user=manager),
        lambda: quotes.delete_quote(quote_id=quote.id, user=manager),
    ]
    for attempt in attempts[:-1]:
        with pytest.raises(Conflict) as err:
            attempt()
        assert err.value.message == "报价当前为“审批中”，审批中或已批准的报价不能修改"
    with pytest.raises(Conflict) as err:
        attempts[-1]()
    assert err.value.message == "报价当前为“审批中”，只有草稿可以修改或删除"
    db.session.expire_all()
    stored = db.session.get(Quote, quote.id)
    assert stored.name == "办公软件报价" and len(stored.lines) == 1 and stored.total == Decimal("100.00")


def test_invalid_input_is_refused_field_by_field_and_saves_nothing(users):
    manager = users["manager1"]
    mine = customer(manager)
    other = customer(users["manager1"], name="苏州恒达机械")
    with pytest.raises(Invalid) as err:
        quotes.create_quote(user=manager, values=header(mine, name="  ", contact_id=contact(other).id))
    assert err.value.field_errors["name"] == ["请填写报价名称"]
    assert err.value.field_errors["contact_id"] == ["联系人不属于该客户"]
    with pytest.raises(Invalid) as err:
        quotes.create_quote(user=manager, values=header(mine), lines=[
            {"product_name": "软件", "quantity": 0, "unit_price": "10"},
            {"product_name": "软件", "quantity": 1, "unit_price": "10", "discount_pct": "101"},
            {"product_name": "", "quantity": 1.5, "unit_price": "-1"},
        ])
    fields = err.value.field_errors
    assert fields["lines.0.quantity"] == ["数量应为正整数"]
    assert fields["lines.1.discount_pct"] == ["折扣应在 0 到 100 之间"]
    assert {"lines.2.product_name", "lines.2.quantity", "lines.2.unit_price"} <= set(fields)
    assert count(Quote) == 0 and count(QuoteLine) == 0

    quote = quotes.create_quote(user=manager, values=header(mine))
    for values, field in (({"product_name": "x", "quantity": 0, "unit_price": "1"}, "quantity"),
                          ({"product_name": "x", "quantity": 1, "unit_price": "1", "discount_pct": 101},
                           "discount_pct"),
                          ({"product_name": "x", "quantity": 1, "unit_price": "1.005"}, "unit_price"),
                          ({"product_name": "x", "quantity": True, "unit_price": "1"}, "quantity")):
        with pytest.raises(Invalid) as err:
            quotes.add_line(quote_id=quote.id, user=manager, values=values)
        assert field in err.value.field_errors
    with pytest.raises(Invalid) as err:
        quotes.update_quote(quote_id=quote.id, user=manager, values={"quote_date": "2026-13-01"})
    assert err.value.field_errors == {"quote_date": ["日期格式应为 YYYY-MM-DD"]}
    assert count(QuoteLine) == 0


def test_quotes_are_scoped_by_their_customer(users):
    manager1, manager2 = users["manager1"], users["manager2"]
    theirs = customer(manager2, name="成都蜀味餐饮")
    with pytest.raises(Invalid) as err:
        quotes.create_quote(user=manager1, values=header(theirs))
    assert err.value.field_errors["customer_id"] == ["客户不存在或您无权为其报价"]

    foreign = quotes.create_quote(user=manager2, values=header(theirs, name="收银系统报价"))
    own = quotes.create_quote(user=manager1, values=header(customer(manager1)))
    assert [q.id for q in quotes.list_quotes(user=manager1).items] == [own.id]
    assert [q.id for q in quotes.list_quotes(user=manager1, q="收银").items] == []
    with pytest.raises(NotFound):
        quotes.get_quote(quote_id=foreign.id, user=manager1)
    with pytest.raises(NotFound):
        quotes.update_quote(quote_id=foreign.id, user=manager1, values={"name": "偷改"})
    with pytest.raises(NotFound):
        quotes.delete_quote(quote_id=foreign.id, user=manager1)
    # A manager may not move his quote to someone else's customer.
    with pytest.raises(Invalid):
        quotes.update_quote(quote_id=own.id, user=manager1, values={"customer_id": theirs.id})

    assert {q.id for q in quotes.list_quotes(user=users["supervisor1"]).items} == {own.id}
    assert {q.id for q in quotes.list_quotes(user=users["director"]).items} == {own.id, foreign.id}
    assert quotes.list_quotes(user=users["agent"]).total == 0  # no quote.read
    assert [q.id for q in quotes.list_quotes(user=manager2, q="BJ", status="草稿").items] == [foreign.id]


def test_deleting_a_draft_keeps_lines_and_attachments_restorable(users, app, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path)
    manager = users["manager1"]
    quote = quotes.create_quote(user=manager, values=header(customer(manager)), lines=[
        {"product_name": "软件", "quantity": 2, "unit_price": "50", "discount_pct": "10"},
        {"product_name": "服务", "quantity": 1, "unit_price": "10"}])
    attachment = attachments.upload(user=manager, record_type="quote", record_id=quote.id, filename="报价单.pdf",
                                    data=b"%PDF-1.4 quote")
    quote_id, number, attachment_id = quote.id, quote.number, attachment.id

    quotes.delete_quote(quote_id=quote_id, user=manager)
    assert count(Quote) == count(QuoteLine) == count(Attachment) == 0
    entry = db.session.scalar(select(RecycleBinEntry))
    assert entry.record_type == "quote" and number in entry.label

    recycle.restore(entry_id=entry.id, user=manager)
    db.session.expire_all()
    restored = quotes.get_quote(quote_id=quote_id, user=manager)
    assert restored.number == number and restored.total == Decimal("100.00")
    assert [(x.product_name, x.amount) for x in restored.lines] == [("软件", Decimal("90.00")),
                                                                     ("服务", Decimal("10.00"))]
    files = attachments.list_attachments(user=manager, record_type="quote", record_id=quote_id)
    assert [f.id for f in files] == [attachment_id]
    assert attachments.read_bytes(files[0]) == b"%PDF-1.4 quote"
