"""Generated demo data: the requested sizes, consistent orders, owners that are account managers."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import (
    Contact,
    Customer,
    Interaction,
    InventoryItem,
    Order,
    OrderLine,
    Product,
    Role,
    User,
    Warehouse,
)
from bpm_crm.services import demo, demo_data, dictionary


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_generates_the_requested_counts_with_consistent_orders(app):
    messages: list[str] = []
    result = demo_data.generate(customers=120, orders=900, seed=7, progress=messages.append)
    assert (result.customers, result.orders) == (120, 900)
    assert (count(Customer), count(Order)) == (120, 900)
    assert count(Contact) == result.contacts and 120 <= result.contacts <= 360
    assert count(OrderLine) == result.order_lines and 900 <= result.order_lines <= 3600
    assert count(Interaction) == result.interactions
    assert count(Product) == len(demo_data.PRODUCTS) and count(Warehouse) == len(demo_data.WAREHOUSES)
    assert count(InventoryItem) == result.inventory > 0
    assert any(message.startswith("orders 900/900") for message in messages)

    per_customer = db.session.execute(select(Contact.customer_id, func.count()).group_by(Contact.customer_id)).all()
    assert len(per_customer) == 120 and all(1 <= n <= 3 for _id, n in per_customer)
    sums: dict[int, Decimal] = {}
    sizes: dict[int, int] = {}
    for line in db.session.scalars(select(OrderLine)):  # in Python: SQLite keeps NUMERIC as floating point
        assert line.amount == line.unit_price * line.quantity
        sums[line.order_id] = sums.get(line.order_id, Decimal(0)) + line.amount
        sizes[line.order_id] = sizes.get(line.order_id, 0) + 1
    totals = {order_id: total for order_id, total in db.session.execute(select(Order.id, Order.total))}
    assert totals == sums and set(sizes.values()) <= {1, 2, 3, 4}
    assert set(db.session.scalars(select(Order.status).distinct())) <= {1, 2, 3, 4, 5, 6}
    oldest, newest = db.session.execute(select(func.min(Order.order_date), func.max(Order.order_date))).one()
    assert (newest - oldest).days > 2 * 365


def test_owners_are_account_managers_or_the_pool_and_values_are_realistic(app, users):
    demo_data.generate(customers=200, orders=50, seed=11)
    managers = set(db.session.scalars(select(User.id).join(User.roles).where(Role.code == "account_manager")))
    owners = list(db.session.scalars(select(Customer.owner_id)))
    assert set(owners) - {None} <= managers and len(set(owners) - {None}) == len(managers)
    assert 5 <= owners.count(None) <= 40, "about one customer in ten sits in the public pool"
    regions = set(dictionary.region_paths())
    levels = set(dictionary.choices(dictionary.LEVEL))
    industries = set(dictionary.choices(dictionary.INDUSTRY))
    customers = list(db.session.scalars(select(Customer)))
    assert len({c.name for c in customers}) == 200
    assert len({c.number for c in customers}) == 200
    for customer in customers:
        assert customer.number == f"KH{customer.id:06d}"
        assert customer.region in regions and customer.level in levels and customer.industry in industries
        assert re.fullmatch(r"0\d{2,3}-\d{7,8}", customer.phone), customer.phone
        assert customer.name.endswith(("公司", "厂")), customer.name
        province, _, city = customer.region.partition("/")
        assert customer.address.startswith(province) and city in customer.address
    for contact in db.session.scalars(select(Contact)):
        assert re.fullmatch(r"1[358]\d{9}", contact.mobile) and contact.gender in ("男", "女")
        assert 2 <= len(contact.name) <= 3


def test_more_data_can_be_added_and_records_created_afterwards(app, users):
    demo_data.generate(customers=10, orders=20, seed=1)
    demo_data.generate(customers=10, orders=20, seed=2)
    assert (count(Customer), count(Order), count(Product)) == (20, 40, len(demo_data.PRODUCTS))
    customer = Customer(name="之后新建的客户", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()  # the id sequences continue after the generated ids
    assert customer.id == 21


def test_the_default_demo_set_loads_once(app):
    result = demo.load_demo_customers()
    assert result is not None and result.customers == demo.DEMO_CUSTOMERS and result.orders == demo.DEMO_ORDERS
    by_owner = dict(db.session.execute(select(User.username, func.count(Customer.id)).join(
        Customer, Customer.owner_id == User.id).group_by(User.username)).all())
    assert set(by_owner) == {"manager1", "manager2", "manager3"} and min(by_owner.values()) >= 5
    assert db.session.scalar(select(func.count()).select_from(Customer).where(Customer.owner_id.is_(None))) >= 1
    assert demo.load_demo_customers() is None
    assert count(Customer) == demo.DEMO_CUSTOMERS


def test_orders_alone_go_to_the_existing_customers(app):
    demo_data.generate(customers=15, orders=0, seed=3)
    result = demo_data.generate(customers=0, orders=60, seed=4)
    assert result.orders == 60 and count(Customer) == 15
    assert set(db.session.scalars(select(Order.customer_id))) <= set(db.session.scalars(select(Customer.id)))


def test_demo_quotes_stand_in_every_state_of_their_approval(app):
    from bpm_crm.models import HumanTask, Job, Quote, QuoteStatus, TaskStatus

    demo_data.generate(customers=36, orders=40, seed=2026)
    assert demo.load_demo_quotes() == len(demo.DEMO_QUOTES)
    by_name = {quote.name: quote for quote in db.session.scalars(select(Quote))}
    assert {name: quote.status for name, quote in by_name.items()} == {
        "办公软件年度授权（草稿）": QuoteStatus.DRAFT, "车间设备维保服务": QuoteStatus.PENDING,
        "门店收银系统一期": QuoteStatus.PENDING, "小批量备件": QuoteStatus.APPROVED,
        "集团信息化整体方案": QuoteStatus.REJECTED, "展会样机": QuoteStatus.DRAFT,
    }
    waiting_at = {quote.name: db.session.scalar(select(HumanTask.bpmn_id).where(
        HumanTask.instance_id == quote.process_instance_id, HumanTask.status == TaskStatus.OPEN))
        for quote in by_name.values() if quote.process_instance_id}
    assert waiting_at == {"车间设备维保服务": "approve_supervisor", "门店收银系统一期": "approve_director",
                          "小批量备件": None, "集团信息化整体方案": "revise", "展会样机": None}
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "quote.pdf")) == 1
    assert demo.load_demo_quotes() == 0  # once
