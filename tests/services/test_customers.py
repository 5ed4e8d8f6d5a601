"""Customer use cases on both databases: scopes, search, pool, transfer, share, recycle bin, the 360 overview."""
from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Attachment,
    Contact,
    Customer,
    CustomerTransfer,
    Interaction,
    Order,
    RecycleBinEntry,
    User,
)
from bpm_crm.services import customers, opportunities, recycle


def make(users, username: str = "manager1", **values) -> Customer:
    return customers.create_customer(user=users[username], values={"name": "杭州云启科技有限公司", **values})


def names(page) -> list[str]:
    return [c.name for c in page.items]


def add_contact(customer: Customer, name: str) -> Contact:
    contact = Contact(customer_id=customer.id, name=name, gender="男", position="经理", office_phone="0571-8888888")
    db.session.add(contact)
    db.session.commit()
    return contact


def test_create_numbers_the_customer_and_sets_the_owner(users):
    customer = make(users, phone="0571-86001234", level="VIP", region="浙江省/杭州市", satisfaction=4,
                    registered_capital="500.5", industry="信息技术", source="展会")
    assert customer.number == f"KH{customer.id:06d}"
    assert customer.owner_id == users["manager1"].id and customer.created_by_id == users["manager1"].id
    assert (customer.level, customer.region, customer.satisfaction) == ("VIP", "浙江省/杭州市", 4)
    assert customer.registered_capital == Decimal("500.50") and customer.status == "正常"

    chosen = make(users, "supervisor1", name="宁波港联物流", owner_id=users["manager3"].id)
    assert chosen.owner_id == users["manager3"].id
    with pytest.raises(Invalid) as outside:
        make(users, "supervisor1", name="越权公司", owner_id=users["manager2"].id)
    assert "owner_id" in outside.value.field_errors
    with pytest.raises(Invalid):  # an account manager cannot hand a new customer to a colleague
        make(users, "manager1", name="越权公司", owner_id=users["manager3"].id)
    with pytest.raises(Forbidden):
        make(users, "ceo", name="高管不能新建")
    assert db.session.scalar(select(func.count(Customer.id))) == 2


@pytest.mark.parametrize(("values", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"satisfaction": 6}, "satisfaction"),
    ({"credit": "abc"}, "credit"),
    ({"level": "钻石"}, "level"),
    ({"region": "火星"}, "region"),
    ({"industry": "炼金术"}, "industry"),
    ({"registered_capital": "-1"}, "registered_capital"),
    ({"annual_turnover": "很多"}, "annual_turnover"),
    ({"status": "冻结"}, "status"),
    ({"phone": "1" * 41}, "phone"),
])
def test_invalid_values_are_refused_field_by_field(users, values, field):
    with pytest.raises(Invalid) as refused:
        make(users, **values)
    assert field in refused.value.field_errors
    assert db.session.scalar(select(func.count(Customer.id))) == 0


def test_update_changes_fields_but_never_the_number_or_owner(users):
    customer = make(users)
    number = customer.number
    updated = customers.update_customer(customer_id=customer.id, user=users["manager1"], values={
        "number": "KH999999", "owner_id": users["manager2"].id, "short_name": "云启", "credit": 5,
        "annual_turnover": 1200, "bank": "招商银行杭州分行"})
    assert (updated.number, updated.owner_id) == (number, users["manager1"].id)
    assert (updated.short_name, updated.credit, updated.annual_turnover) == ("云启", 5, Decimal("1200.00"))
    with pytest.raises(Invalid) as refused:
        customers.update_customer(customer_id=customer.id, user=users["manager1"], values={"satisfaction": 6,
                                                                                           "level": None})
    assert set(refused.value.field_errors) == {"satisfaction", "level"}
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).level == "普通"


def test_search_filters_sort_and_paging(users):
    manager = users["manager1"]
    a = make(users, name="杭州云启科技", region="浙江省/杭州市", level="VIP", phone="0571-1111111")
    b = make(users, name="宁波港联物流", region="浙江省/宁波市", address="宁波市北仑区港口路8号")
    c = make(users, name="苏州恒达机械", region="江苏省/苏州市", level="重点", contact_name="孙厂长")
    d = make(users, name="浙江老客户", region="浙江省")
    d.status = "已流失"  # as the churn process leaves it
    db.session.commit()
    add_contact(b, "吴主任")

    def listed(**filters) -> list[str]:
        return names(customers.list_customers(user=manager, **filters))

    assert listed() == [d.name, c.name, b.name, a.name]  # newest first
    assert listed(q="吴主任") == [b.name]  # a contact's name
    assert listed(q="孙厂长") == [c.name]  # the main contact on the record
    assert listed(q="北仑") == [b.name] and listed(q="1111111") == [a.name] and listed(q=a.number) == [a.name]
    assert listed(q="%") == [] and listed(q="_") == []  # wildcards are literal
    assert listed(region="浙江省") == [d.name, b.name, a.name]  # a province includes its cities
    assert listed(region="浙江省/宁波市") == [b.name]
    assert listed(level="VIP") == [a.name] and listed(status="已流失") == [d.name]
    assert listed(region="浙江省", level="普通") == [d.name, b.name]
    assert listed(sort="name") == sorted(listed(sort="name"))
    assert listed(sort="-name") == list(reversed(listed(sort="name")))
    assert listed(sort="number") == [a.name, b.name, c.name, d.name]
    assert listed(sort="-level") == [a.name, c.name, d.name, b.name]  # VIP, 重点, then 普通 newest first
    assert listed(owner_id=users["manager3"].id) == []

    first = customers.list_customers(user=manager, sort="number", page=1, per_page=3)
    second = customers.list_customers(user=manager, sort="number", page=2, per_page=3)
    assert (first.total, first.pages, names(first), names(second)) == (4, 2, [a.name, b.name, c.name], [d.name])
    with pytest.raises(Invalid):
        customers.list_customers(user=manager, sort="password")
    with pytest.raises(Invalid):
        customers.list_customers(user=manager, view="everything")


def test_each_role_sees_the_customers_of_its_scope(users):
    mine = make(users, "manager1", name="一部李明的客户")
    colleague = make(users, "manager3", name="一部赵敏的客户")
    other = make(users, "manager2", name="二部刘洋的客户")

    def visible(username: str) -> set[str]:
        return set(names(customers.list_customers(user=users[username])))

    assert visible("manager1") == {mine.name}
    assert visible("supervisor1") == {mine.name, colleague.name}
    assert visible("supervisor2") == {other.name}
    assert visible("director") == visible("ceo") == visible("admin") == {mine.name, colleague.name, other.name}
    with pytest.raises(NotFound):
        customers.get_customer(customer_id=other.id, user=users["manager1"])
    with pytest.raises(NotFound):
        customers.get_customer(customer_id=other.id, user=users["supervisor1"])
    with pytest.raises(NotFound):
        customers.update_customer(customer_id=other.id, user=users["manager1"], values={"name": "改名"})
    with pytest.raises(NotFound):
        customers.delete_customer(customer_id=other.id, user=users["manager1"])
    assert customers.get_customer(customer_id=colleague.id, user=users["supervisor1"]).id == colleague.id
    with pytest.raises(Forbidden):  # the executive reads everything but changes nothing
        customers.update_customer(customer_id=mine.id, user=users["ceo"], values={"name": "改名"})


def test_a_shared_customer_is_readable_but_not_editable(users):
    customer = make(users, "manager1")
    share = customers.share_customer(customer_id=customer.id, user_id=users["manager2"].id, user=users["manager1"])
    again = customers.share_customer(customer_id=customer.id, user_id=users["manager2"].id, user=users["manager1"])
    assert again.id == share.id  # sharing twice is harmless

    reader = users["manager2"]
    page = customers.list_customers(user=reader)
    assert names(page) == [customer.name]
    assert customers.shared_ids(user=reader, customer_ids=[customer.id]) == {customer.id}
    assert customers.get_customer(customer_id=customer.id, user=reader).id == customer.id
    assert customers.allowed_actions(customer=customer, user=reader) == set()
    with pytest.raises(Forbidden):
        customers.update_customer(customer_id=customer.id, user=reader, values={"name": "被共享人改名"})
    with pytest.raises(Forbidden):
        customers.delete_customer(customer_id=customer.id, user=reader)
    with pytest.raises(Forbidden):
        customers.share_customer(customer_id=customer.id, user_id=users["manager3"].id, user=reader)
    with pytest.raises(Invalid):
        customers.share_customer(customer_id=customer.id, user_id=users["manager1"].id, user=users["manager1"])
    with pytest.raises(Invalid):
        customers.share_customer(customer_id=customer.id, user_id=999999, user=users["manager1"])

    customers.unshare_customer(customer_id=customer.id, user_id=reader.id, user=users["manager1"])
    with pytest.raises(NotFound):
        customers.get_customer(customer_id=customer.id, user=reader)
    with pytest.raises(NotFound):
        customers.unshare_customer(customer_id=customer.id, user_id=reader.id, user=users["manager1"])


def test_release_to_the_pool_and_claim_once(users):
    customer = make(users, "manager1")
    with pytest.raises(NotFound):  # a colleague's customer is invisible, so he cannot release it
        customers.release_customer(customer_id=customer.id, user=users["manager3"])
    customers.release_customer(customer_id=customer.id, user=users["manager1"], reason="长期无法联系")
    assert customer.owner_id is None
    assert names(customers.list_customers(user=users["manager1"])) == []
    assert names(customers.list_customers(user=users["manager2"], view="pool")) == [customer.name]
    with pytest.raises(Forbidden):  # executives may not claim, so they have no pool view
        customers.list_customers(user=users["ceo"], view="pool")
    with pytest.raises(Conflict):
        customers.release_customer(customer_id=customer.id, user=users["manager1"])

    claimed = customers.claim_customer(customer_id=customer.id, user=users["manager2"])
    assert claimed.owner_id == users["manager2"].id
    with pytest.raises(Conflict):
        customers.claim_customer(customer_id=customer.id, user=users["manager3"])
    with pytest.raises(NotFound):  # no longer in the pool, and not his
        customers.get_customer(customer_id=customer.id, user=users["manager3"])
    rows = db.session.scalars(select(CustomerTransfer).order_by(CustomerTransfer.id)).all()
    assert [(r.kind, r.from_user_id, r.to_user_id, r.reason) for r in rows] == [
        ("release", users["manager1"].id, None, "长期无法联系"), ("claim", None, users["manager2"].id, None)]


@pytest.mark.commits  # each claim runs on its own thread and connection
def test_two_simultaneous_claims_one_wins(app, users):
    customer = make(users, "manager1")
    customers.release_customer(customer_id=customer.id, user=users["manager1"])
    customer_id, claimers = customer.id, [users["manager2"].id, users["manager3"].id]
    db.session.remove()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def claim(user_id: int) -> None:
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                db.session.commit()  # end the read transaction: SQLite holds its write lock from BEGIN
                barrier.wait()  # both claims arrive together
                customers.claim_customer(customer_id=customer_id, user=user)
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append(f"conflict: {exc.message}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claim, args=(uid,)) for uid in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"]
    assert "已被他人领取" in next(o for o in outcomes if o.startswith("conflict"))
    assert db.session.get(Customer, customer_id).owner_id in claimers
    assert db.session.scalar(select(func.count()).select_from(CustomerTransfer).where(
        CustomerTransfer.kind == "claim")) == 1


def test_batch_transfer_writes_one_row_per_customer(users):
    first, second = make(users, "manager1", name="甲公司"), make(users, "manager1", name="乙公司")
    other = make(users, "manager2", name="二部客户")
    supervisor = users["supervisor1"]
    customers.share_customer(customer_id=first.id, user_id=users["manager3"].id, user=users["manager1"])

    moved = customers.transfer_customers(customer_ids=[first.id, second.id, first.id],
                                         to_user_id=users["manager3"].id, reason="李明调岗", user=supervisor)
    assert [c.id for c in moved] == [first.id, second.id]
    rows = db.session.scalars(select(CustomerTransfer).order_by(CustomerTransfer.id)).all()
    assert [(r.customer_id, r.kind, r.from_user_id, r.to_user_id, r.by_user_id, r.reason) for r in rows] == [
        (c.id, "transfer", users["manager1"].id, users["manager3"].id, supervisor.id, "李明调岗")
        for c in (first, second)]
    assert set(names(customers.list_customers(user=users["manager3"]))) == {"甲公司", "乙公司"}
    assert customers.shared_ids(user=users["manager3"], customer_ids=[first.id]) == set()  # owner now
    assert names(customers.list_customers(user=users["manager1"])) == []

    with pytest.raises(Invalid) as target:  # manager2 is outside supervisor1's team
        customers.transfer_customers(customer_ids=[first.id], to_user_id=users["manager2"].id, user=supervisor)
    assert "to_user_id" in target.value.field_errors
    with pytest.raises(Invalid):  # a supervisor is not an account manager
        customers.transfer_customers(customer_ids=[first.id], to_user_id=supervisor.id, user=supervisor)
    with pytest.raises(NotFound):  # one customer outside his scope refuses the whole batch
        customers.transfer_customers(customer_ids=[first.id, other.id], to_user_id=users["manager1"].id,
                                     user=supervisor)
    assert db.session.get(Customer, first.id).owner_id == users["manager3"].id
    with pytest.raises(Forbidden):
        customers.transfer_customers(customer_ids=[first.id], to_user_id=users["manager1"].id,
                                     user=users["manager3"])
    users["manager1"].active = False
    db.session.commit()
    with pytest.raises(Invalid):  # only active account managers receive customers
        customers.transfer_customers(customer_ids=[first.id], to_user_id=users["manager1"].id, user=supervisor)


def test_delete_moves_to_the_bin_and_restore_brings_contacts_back(users):
    customer = make(users, "manager1", name="要删除的客户")
    add_contact(customer, "钱经理")
    add_contact(customer, "孙会计")
    customer_id, number = customer.id, customer.number
    with pytest.raises(NotFound):
        customers.delete_customer(customer_id=customer_id, user=users["manager3"])

    customers.delete_customer(customer_id=customer_id, user=users["manager1"])
    db.session.expire_all()
    assert db.session.get(Customer, customer_id) is None
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    entry = db.session.scalar(select(RecycleBinEntry).where(RecycleBinEntry.record_id == customer_id))
    assert entry is not None and entry.record_type == "customer" and number in entry.label
    assert entry.owner_id == users["manager1"].id

    recycle.restore(entry_id=entry.id, user=users["manager1"])
    db.session.expire_all()
    restored = customers.get_customer(customer_id=customer_id, user=users["manager1"])
    assert (restored.name, restored.number) == ("要删除的客户", number)
    assert sorted(db.session.scalars(select(Contact.name).where(Contact.customer_id == customer_id))) == [
        "孙会计", "钱经理"]


def test_overview_counts_every_linked_record_and_shows_the_newest(users):
    manager = users["manager1"]
    opportunity = opportunities.create_opportunity(user=manager, values=dict(
        customer_name="云启科技", probability=60, summary="采购办公软件", description="有意向"))
    customer = make(users, name="云启科技")
    customer.opportunity_id = opportunity.id
    db.session.commit()
    for n in range(7):
        add_contact(customer, f"联系人{n}")
    db.session.add_all([
        Interaction(customer_id=customer.id, date=date(2026, 11, 1), place="客户公司", summary="上门拜访"),
        Order(number="DD0001", customer_id=customer.id, order_date=date(2026, 1, 5), status=5, total=Decimal("100")),
        Order(number="DD0002", customer_id=customer.id, order_date=date(2026, 3, 5), status=6, total=Decimal("200")),
        Order(number="DD0003", customer_id=customer.id, order_date=date(2026, 6, 5), status=1, total=Decimal("300")),
        Attachment(record_type="customer", record_id=customer.id, filename="合同.pdf",
                   content_type="application/pdf", size=1024, sha256="0" * 64),
    ])
    db.session.commit()
    customers.share_customer(customer_id=customer.id, user_id=users["agent"].id, user=manager)
    customers.transfer_customers(customer_ids=[customer.id], to_user_id=users["manager3"].id,
                                 user=users["supervisor1"], reason="调整")

    overview = customers.customer_overview(customer_id=customer.id, user=users["supervisor1"])
    counts = {name: section.count for name, section in overview.sections.items()}
    assert counts == {"contacts": 7, "interactions": 1, "opportunities": 1, "quotes": 0, "orders": 2,
                      "service": 0, "churn": 0, "care": 0, "processes": 1, "attachments": 1}
    assert [c.name for c in overview.sections["contacts"].items] == [f"联系人{n}" for n in (6, 5, 4, 3, 2)]
    assert [o.number for o in overview.sections["orders"].items] == ["DD0002", "DD0001"]  # history, newest first
    assert overview.sections["processes"].items[0].id == opportunity.process_instance_id
    assert [s.user.username for s in overview.shares] == ["agent"]
    assert [(t.kind, t.reason) for t in overview.transfers] == [("transfer", "调整")]
    assert {"update", "delete", "transfer", "share", "release"} <= overview.actions
    with pytest.raises(NotFound):
        customers.customer_overview(customer_id=customer.id, user=users["manager2"])
    assert customers.customer_overview(customer_id=customer.id, user=users["agent"]).actions == set()
