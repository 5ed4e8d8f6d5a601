"""The recycle bin: a customer and everything hanging off it goes to the bin and comes back identical."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from bpm_crm.errors import Conflict, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Attachment,
    AuditLog,
    CareTask,
    ChurnMeasure,
    ChurnWarning,
    Contact,
    Customer,
    CustomerShare,
    CustomerTransfer,
    Interaction,
    Order,
    OrderLine,
    Product,
    Quote,
    QuoteLine,
    RecycleBinEntry,
)
from bpm_crm.services import recycle
from bpm_crm.services.transaction import unit_of_work

TREE_MODELS = (Customer, Contact, Interaction, CustomerShare, CustomerTransfer, Quote, QuoteLine, Order, OrderLine,
               ChurnWarning, ChurnMeasure, CareTask, Attachment)


def make_customer(users, owner: str = "manager1", name: str = "杭州云启科技有限公司") -> Customer:
    """A customer with one or more of every dependant the bin must keep, committed."""
    owner_user = users[owner]
    customer = Customer(name=name, number=None, short_name="云启", region="浙江省/杭州市", industry="信息技术",
                        level="重点", satisfaction=4, credit=5, phone="0571-88886666",
                        registered_capital=Decimal("1000000.50"), annual_turnover=Decimal("23456789.00"),
                        remarks="老客户\n多行备注", owner_id=owner_user.id, created_by_id=owner_user.id,
                        updated_by_id=owner_user.id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    contacts = [Contact(customer_id=customer.id, name=n, gender=g, position="经理", office_phone="0571-1234567",
                        mobile="13800000000", birthday=date(1985, 3, 9), created_by_id=owner_user.id)
                for n, g in (("钱经理", "男"), ("孙会计", "女"))]
    db.session.add_all(contacts)
    db.session.flush()
    db.session.add_all([
        Interaction(customer_id=customer.id, date=date(2026, 10, 8), place="客户办公室", summary="上门拜访",
                    detail="介绍新产品"),
        Interaction(customer_id=customer.id, date=date(2026, 11, 1), place="电话", summary="回访"),
        CustomerShare(customer_id=customer.id, user_id=users["manager3"].id, shared_by_id=owner_user.id),
        CustomerTransfer(customer_id=customer.id, from_user_id=None, to_user_id=owner_user.id,
                         by_user_id=owner_user.id, kind="claim", reason="从公海领取"),
    ])
    product = Product(code=f"P-{customer.id}", name="办公软件", price=Decimal("1200.00"))
    db.session.add(product)
    db.session.flush()
    quote = Quote(customer_id=customer.id, contact_id=contacts[0].id, name="办公软件报价", quote_date=date(2026, 11, 2),
                  total=Decimal("2280.00"), created_by_id=owner_user.id)
    quote.lines = [QuoteLine(product_id=product.id, product_name="办公软件", quantity=2, unit_price=Decimal("1200.00"),
                             discount_pct=Decimal("5.00"), amount=Decimal("2280.00"))]
    order = Order(number=f"DD{customer.id:08d}", customer_id=customer.id, order_date=date(2026, 5, 1), status=6,
                  total=Decimal("3600.00"))
    order.lines = [OrderLine(product_id=product.id, product_name="办公软件", quantity=3,
                             unit_price=Decimal("1200.00"), amount=Decimal("3600.00"))]
    warning = ChurnWarning(customer_id=customer.id, manager_id=owner_user.id, last_order_date=date(2026, 5, 1))
    warning.measures = [ChurnMeasure(content="电话回访", author_id=owner_user.id),
                        ChurnMeasure(content="赠送优惠券", author_id=owner_user.id)]
    db.session.add_all([quote, order, warning,
                        CareTask(customer_id=customer.id, contact_id=contacts[1].id, kind="生日", title="孙会计生日",
                                 due_date=date(2026, 3, 9), assignee_id=owner_user.id)])
    db.session.flush()
    db.session.add_all([
        Attachment(record_type="customer", record_id=customer.id, filename="营业执照.pdf",
                   content_type="application/pdf", size=1024, sha256="a" * 64, uploaded_by_id=owner_user.id),
        Attachment(record_type="quote", record_id=quote.id, filename="报价单.xlsx",
                   content_type="application/vnd.ms-excel", size=2048, sha256="b" * 64),
    ])
    db.session.commit()
    return customer


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table of the tree, as plain dicts, ordered by id."""
    db.session.expire_all()
    result = {}
    for model in TREE_MODELS:
        table = model.__table__
        result[table.name] = [dict(row) for row in db.session.execute(
            select(table).order_by(table.c.id)).mappings()]
    return result


@unit_of_work
def delete_customer(customer_id: int, user, label: str = "客户 杭州云启科技有限公司") -> RecycleBinEntry:
    customer = db.session.get(Customer, customer_id)
    return recycle.move_to_bin(record=customer, user=user, label=label, owner_id=customer.owner_id)


def test_customer_tree_round_trip_restores_every_row_identically(app, users):
    customer = make_customer(users)
    other = make_customer(users, owner="manager2", name="成都蜀味餐饮")  # must be untouched throughout
    customer_id = customer.id
    before = snapshot()
    assert all(before[model.__tablename__] for model in TREE_MODELS)

    entry = delete_customer(customer_id, users["manager1"])
    after_delete = snapshot()
    for model in TREE_MODELS:  # every row of the tree is gone, the other customer's rows stay
        table = model.__tablename__
        rows = after_delete[table]
        assert rows == [r for r in before[table] if r not in _rows_of(before, customer_id)[table]], table
    assert entry.record_type == "customer" and entry.record_id == customer_id and entry.owner_id == users["manager1"].id

    listed = recycle.list_entries(user=users["manager1"])
    assert [e.id for e in listed.items] == [entry.id]
    assert listed.items[0].label == "客户 杭州云启科技有限公司"

    recycle.restore(entry_id=entry.id, user=users["manager1"])
    assert snapshot() == before
    assert db.session.scalar(select(func.count(RecycleBinEntry.id))) == 0
    actions = db.session.scalars(select(AuditLog.action).where(
        AuditLog.record_type == "customer", AuditLog.record_id == customer_id).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["delete", "restore"]
    delete_entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "delete",
                                                            AuditLog.record_id == customer_id))
    assert delete_entry.user_id == users["manager1"].id and delete_entry.changes["rows"][0] == 17

    with pytest.raises(NotFound):  # twice: the entry is gone
        recycle.restore(entry_id=entry.id, user=users["manager1"])
    assert other.id != customer_id


def _rows_of(before: dict[str, list[dict]], customer_id: int) -> dict[str, list[dict]]:
    """The rows of `before` that belong to the customer's tree."""
    quotes = {r["id"] for r in before["quotes"] if r["customer_id"] == customer_id}
    orders = {r["id"] for r in before["orders"] if r["customer_id"] == customer_id}
    warnings = {r["id"] for r in before["churn_warnings"] if r["customer_id"] == customer_id}
    own = {
        "customers": lambda r: r["id"] == customer_id,
        "quote_lines": lambda r: r["quote_id"] in quotes,
        "order_lines": lambda r: r["order_id"] in orders,
        "churn_measures": lambda r: r["warning_id"] in warnings,
        "attachments": lambda r: (r["record_type"], r["record_id"]) in (
            {("customer", customer_id)} | {("quote", q) for q in quotes}),
    }
    return {table: [r for r in rows if own.get(table, lambda r: r.get("customer_id") == customer_id)(r)]
            for table, rows in before.items()}


def test_deleted_rows_leave_no_stale_objects_in_the_session(app, users):
    customer = make_customer(users)
    contact_id = db.session.scalar(select(Contact.id).where(Contact.customer_id == customer.id))
    contact = db.session.get(Contact, contact_id)  # loaded into the session before the delete
    assert contact.name
    recycle.move_to_bin(record=db.session.get(Customer, customer.id), user=users["manager1"], label="客户",
                        owner_id=users["manager1"].id)
    assert db.session.get(Contact, contact_id) is None  # within the same unit of work too
    db.session.commit()
    assert db.session.get(Contact, contact_id) is None
    assert db.session.get(Customer, customer.id) is None


def test_someone_outside_the_scope_cannot_see_or_restore_the_entry(app, users):
    customer = make_customer(users)
    entry = delete_customer(customer.id, users["manager1"])
    assert recycle.list_entries(user=users["manager2"]).total == 0
    with pytest.raises(NotFound):
        recycle.restore(entry_id=entry.id, user=users["manager2"])
    assert recycle.list_entries(user=users["supervisor2"]).total == 0
    # manager1's supervisor reaches his subordinates' entries and may restore them
    assert [e.id for e in recycle.list_entries(user=users["supervisor1"]).items] == [entry.id]
    assert recycle.may_restore(users["supervisor1"], entry) and not recycle.may_restore(users["manager2"], entry)
    recycle.restore(entry_id=entry.id, user=users["supervisor1"])
    assert db.session.get(Customer, customer.id) is not None


def test_record_type_filter(app, users):
    entry = delete_customer(make_customer(users).id, users["manager1"])
    assert recycle.list_entries(user=users["admin"], record_type="customer").items == [entry]
    assert recycle.list_entries(user=users["admin"], record_type="quote").total == 0


def test_restore_when_an_id_was_reused_is_a_clear_conflict_and_restores_nothing(app, users):
    customer = make_customer(users)
    entry = delete_customer(customer.id, users["manager1"])
    contact_ids = [row["row"]["id"] for row in entry.payload["children"] if row["table"] == "contacts"]
    # someone else's customer now holds the id of one of the deleted contacts
    stranger = Customer(name="宁波港联物流", owner_id=users["manager2"].id)
    db.session.add(stranger)
    db.session.flush()
    db.session.execute(insert(Contact.__table__).values(
        id=contact_ids[1], customer_id=stranger.id, name="吴主任", gender="男", position="主任",
        office_phone="0574-87651234", created_at=datetime(2026, 11, 1), updated_at=datetime(2026, 11, 1)))
    db.session.commit()
    before = snapshot()

    with pytest.raises(Conflict) as failure:
        recycle.restore(entry_id=entry.id, user=users["manager1"])
    assert "编号已被占用" in failure.value.message
    assert snapshot() == before  # not even the customer row came back
    assert db.session.get(RecycleBinEntry, entry.id) is not None  # still in the bin
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "restore")) == 0


def test_a_user_without_restore_permission_sees_only_what_he_deleted(app, users):
    customer = make_customer(users, owner="manager1")
    entry = delete_customer(customer.id, users["agent"], label="客户 A")
    assert [e.id for e in recycle.list_entries(user=users["agent"]).items] == [entry.id]
    assert not recycle.may_restore(users["agent"], entry)
    assert [e.id for e in recycle.list_entries(user=users["manager1"]).items] == [entry.id]  # the owner's record
