"""Demo organisation and data: every role, two sales departments, opportunities, customers with orders."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Department, User
from bpm_crm.services import dictionary, opportunities, people, permissions

if TYPE_CHECKING:
    from bpm_crm.services.demo_data import DemoResult

DEMO_PASSWORD = "demo1234"  # noqa: S105  (printed at start-up; demo data only)

# username, full name, roles, department, superior
DEMO_USERS: list[tuple[str, str, list[str], str, str | None]] = [
    ("admin", "系统管理员", ["admin"], "信息部", None),
    ("ceo", "张总", ["executive"], "总经办", None),
    ("director", "周总监", ["sales_director"], "销售中心", "ceo"),
    ("supervisor1", "王主管", ["sales_supervisor"], "销售一部", "director"),
    ("manager1", "李明", ["account_manager"], "销售一部", "supervisor1"),
    ("manager3", "赵敏", ["account_manager"], "销售一部", "supervisor1"),
    ("supervisor2", "陈主管", ["sales_supervisor"], "销售二部", "director"),
    ("manager2", "刘洋", ["account_manager"], "销售二部", "supervisor2"),
    ("agent", "孙客服", ["service_agent"], "客服部", None),
    ("quality", "吴质量", ["department_head"], "质量部", None),
    ("owner", "郑流程", ["process_owner"], "信息部", "admin"),
]

DEMO_OPPORTUNITIES = [
    ("manager1", dict(source="展会", customer_name="杭州云启科技有限公司", probability=60,
                      summary="采购200套办公软件", contact="钱经理", contact_phone="13800138001",
                      description="客户在上海展会上表示有意向更换现有办公系统，预算约30万。")),
    ("manager1", dict(source="老客户介绍", customer_name="苏州恒达机械制造厂", probability=40,
                      summary="车间设备维保服务", contact="孙厂长", contact_phone="0512-66881234",
                      description="老客户介绍，需要年度设备维保合同。")),
    ("manager2", dict(source="官网咨询", customer_name="成都蜀味餐饮管理有限公司", probability=75,
                      summary="连锁门店收银系统", contact="周总", contact_phone="13900139002",
                      description="12家门店，希望三个月内上线。")),
    ("supervisor1", dict(source="电话营销", customer_name="宁波港联物流有限公司", probability=30,
                         summary="仓储管理系统升级", contact="吴主任", contact_phone="0574-87651234",
                         description="现有系统老旧，正在评估供应商。")),
]


def load_demo_users() -> list[User]:
    """Create the demo roles and users (skips users that exist); commits."""
    permissions.seed_roles()
    dictionary.seed_dictionary()
    db.session.commit()
    created = []
    for username, full_name, roles, department, superior in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        created.append(people.create_user(username=username, password=DEMO_PASSWORD, full_name=full_name,
                                          roles=roles, department=department, superior=superior))
    heads = {"销售一部": "supervisor1", "销售二部": "supervisor2", "质量部": "quality", "销售中心": "director"}
    for dept_name, username in heads.items():
        dept = db.session.scalar(select(Department).where(Department.name == dept_name))
        head = db.session.scalar(select(User).where(User.username == username))
        if dept is not None and head is not None and dept.head_id is None:
            dept.head_id = head.id
    db.session.commit()
    return created


def load_demo_opportunities() -> int:
    """Create the demo opportunities (each starts its process) unless some exist; commits."""
    from bpm_crm.models import Opportunity

    if db.session.scalar(select(Opportunity.id).limit(1)):
        return 0
    for username, values in DEMO_OPPORTUNITIES:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            opportunities.create_opportunity(user=user, values=values)
    return len(DEMO_OPPORTUNITIES)


DEMO_CUSTOMERS = 36  # about ten per account manager, a few in the public pool
DEMO_ORDERS = 300


def load_demo_customers(*, customers: int | None = None, orders: int | None = None, seed: int = 2026,
                        progress: Callable[[str], None] | None = None) -> DemoResult | None:
    """The demo customers with contacts, interactions, products, stock and orders; commits per chunk.

    Without sizes it loads the small default set once (nothing if customers exist); with sizes it always
    adds that many customers and orders (for load tests: 100,000 customers and 1,000,000 orders).
    """
    from bpm_crm.models import Customer
    from bpm_crm.services import demo_data

    if customers is None and orders is None:
        if db.session.scalar(select(Customer.id).limit(1)):
            return None
        customers, orders = DEMO_CUSTOMERS, DEMO_ORDERS
    return demo_data.generate(customers=customers or 0, orders=orders or 0, seed=seed, progress=progress)
