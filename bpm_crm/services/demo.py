"""Demo organisation and data: every role, two sales departments, opportunities, customers with orders."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from bpm_crm import clock
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
    ("service_lead", "钱主管", ["service_supervisor"], "客服部", "ceo"),
    ("production", "冯生产", ["department_head"], "生产部", "ceo"),
    ("finance", "何财务", ["department_head"], "财务部", "ceo"),
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


def demo_logins() -> list[str]:
    """One line per demo user for the start-up banner: user name, name, roles and department."""
    width = max(len(username) for username, *_rest in DEMO_USERS)
    return [f"{username.ljust(width)}  {full_name} · {'、'.join(permissions.ROLES.get(r, r) for r in roles)} · "
            f"{department}" for username, full_name, roles, department, _superior in DEMO_USERS]


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
    heads = {"销售一部": "supervisor1", "销售二部": "supervisor2", "质量部": "quality", "销售中心": "director",
             "客服部": "service_lead", "生产部": "production", "财务部": "finance"}
    for dept_name, username in heads.items():
        dept = db.session.scalar(select(Department).where(Department.name == dept_name))
        head = db.session.scalar(select(User).where(User.username == username))
        if dept is not None and head is not None and dept.head_id is None:
            dept.head_id = head.id
    # The service agents report to the service supervisor: their overdue work escalates to him.
    lead = db.session.scalar(select(User).where(User.username == "service_lead"))
    agent = db.session.scalar(select(User).where(User.username == "agent"))
    if lead is not None and agent is not None and agent.superior_id is None:
        agent.superior_id = lead.id
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


# Quotes of manager1 in every state of their approval: (name, [(product index, quantity, discount %)], what happens)
DEMO_QUOTES: list[tuple[str, list[tuple[int, int, str]], str]] = [
    ("办公软件年度授权（草稿）", [(0, 10, "0")], "draft"),
    ("车间设备维保服务", [(1, 40, "5")], "waiting_supervisor"),
    ("门店收银系统一期", [(2, 60, "8")], "waiting_director"),
    ("小批量备件", [(3, 12, "0")], "approved"),
    ("集团信息化整体方案", [(0, 150, "10"), (4, 80, "12")], "rejected"),
    ("展会样机", [(1, 3, "25")], "withdrawn"),
]


def load_demo_quotes() -> int:
    """Quotes in every state (草稿, 审批中 at each level, 已批准, 已驳回, withdrawn) unless quotes exist; commits."""
    from bpm_crm.models import Customer, Product, Quote
    from bpm_crm.services import approvals, quote_approval, quotes

    if db.session.scalar(select(Quote.id).limit(1)):
        return 0
    by_name = {user.username: user for user in db.session.scalars(select(User))}
    manager = by_name.get("manager1")
    customer = db.session.scalar(select(Customer).where(Customer.owner_id == manager.id).order_by(Customer.id)
                                 .limit(1)) if manager is not None else None
    products = list(db.session.scalars(select(Product).order_by(Product.id).limit(5)))
    if manager is None or customer is None or len(products) < 5:
        return 0

    def waiting(quote: Quote, username: str) -> int:
        from bpm_crm.models import HumanTask, TaskStatus

        return db.session.scalar(select(HumanTask.id).where(
            HumanTask.instance_id == quote.process_instance_id, HumanTask.status == TaskStatus.OPEN,
            HumanTask.assignee_id == by_name[username].id)) or 0

    for name, lines, fate in DEMO_QUOTES:
        quote = quotes.create_quote(user=manager, values={"customer_id": customer.id, "name": name,
                                                          "quote_date": clock.now().date()},
                                    lines=[{"product_id": products[index].id, "quantity": quantity,
                                            "unit_price": str(products[index].price), "discount_pct": discount}
                                           for index, quantity, discount in lines])
        if fate == "draft":
            continue
        quote_approval.submit(quote_id=quote.id, user=manager)
        if fate in ("waiting_director", "approved", "rejected"):
            approvals.decide(task_id=waiting(quote, "supervisor1"), user=by_name["supervisor1"], decision="approve",
                             comment="价格在权限内，同意")
        if fate == "approved" and waiting(quote, "director"):
            approvals.decide(task_id=waiting(quote, "director"), user=by_name["director"], decision="approve")
        if fate == "rejected":
            if waiting(quote, "director"):
                approvals.decide(task_id=waiting(quote, "director"), user=by_name["director"], decision="approve")
            if waiting(quote, "ceo"):
                approvals.decide(task_id=waiting(quote, "ceo"), user=by_name["ceo"], decision="reject",
                                 comment="折扣偏高，请与客户重新确认实施范围后再报")
        if fate == "withdrawn":
            quote_approval.withdraw(quote_id=quote.id, user=manager, reason="客户要调整数量")
    return len(DEMO_QUOTES)


# Service requests through their processes, on working days before today: (type, summary, detail, steps), each
# step (working hours after the previous one, who, what) — so the SLA figures have something to show.
DEMO_SERVICE_REQUESTS: list[tuple[str, str, str, list[tuple[float, str, str, dict]]]] = [
    ("投诉", "新装设备三天两次停机", "客户来电：新安装的数控设备三天内两次停机，要求上门检修并赔偿停工损失。", [
        (1.5, "service_lead", "accept", {"departments": ["质量部", "生产部"], "instructions": "请核实安装调试记录"}),
        (3, "quality", "sign_off", {"decision": "agree", "comment": "安装后未做负载测试，本部门承担主要责任"}),
        (2, "production", "sign_off", {"decision": "agree", "comment": "设备出厂检验合格，配合上门检修"}),
        (4, "service_lead", "compensate", {"handling": "上门更换主控板并延保一年", "compensation_amount": 2000,
                                           "deduction_amount": 800, "deduction_department_id": "质量部"}),
        (6, "agent", "return_visit", {"satisfaction": "4", "feedback": "设备运行正常，客户满意"}),
    ]),
    ("投诉", "发票金额开错", "客户反映上月发票金额与合同不符，要求重开。", [
        (5, "service_lead", "accept", {"departments": ["财务部"]}),
        (30, "finance", "sign_off", {"decision": "agree", "comment": "已核实，重开发票"}),
        (10, "service_lead", "compensate", {"handling": "作废原发票并重开"}),
        (12, "agent", "return_visit", {"satisfaction": "2", "feedback": "重开太慢，客户不满意"}),
    ]),
    ("投诉", "送货延误一周", "客户投诉订单送货比约定晚了一周。", [
        (2, "service_lead", "accept", {"departments": ["质量部", "生产部"]}),
        (1, "quality", "sign_off", {"decision": "agree", "comment": "同意"}),
    ]),
    ("投诉", "售后电话无人接听", "客户投诉售后热线连续两天无人接听。", []),
    ("咨询", "保修期多长", "客户询问设备保修期。", [(0, "agent", "answer", {"answer": "整机保修两年，易损件半年"})]),
    ("咨询", "能否提供上门培训", "客户询问是否提供操作人员上门培训。", [
        (1, "service_lead", "assign", {"handler_id": "quality", "instructions": "请确认培训安排"}),
    ]),
    ("建议", "希望增加微信报修", "客户建议开通微信公众号报修。", [
        (3, "service_lead", "assign", {"handler_id": "agent"}),
        (6, "agent", "handle", {"handling": "已转产品部门评估，下季度上线"}),
        (2, "agent", "give_feedback", {"satisfaction": "5", "feedback": "客户很满意"}),
    ]),
]


def load_demo_service_requests() -> int:
    """Complaints, consultations and suggestions in every state of their processes unless requests exist; commits."""
    from datetime import timedelta

    from bpm_crm.handlers.calendar import add_working_time
    from bpm_crm.models import Customer, HumanTask, ServiceRequest, TaskStatus
    from bpm_crm.services import human_tasks, service_requests

    if db.session.scalar(select(ServiceRequest.id).limit(1)):
        return 0
    by_name = {user.username: user for user in db.session.scalars(select(User))}
    customers = list(db.session.scalars(select(Customer).where(Customer.owner_id.is_not(None))
                                        .order_by(Customer.id).limit(len(DEMO_SERVICE_REQUESTS))))
    if "agent" not in by_name or len(customers) < len(DEMO_SERVICE_REQUESTS):
        return 0
    departments = {row.name: row.id for row in db.session.scalars(select(Department))}
    start = add_working_time(clock.now(), timedelta(hours=-8 * 6))  # six working days ago
    try:
        for index, (kind, summary, detail, steps) in enumerate(DEMO_SERVICE_REQUESTS):
            moment = add_working_time(start, timedelta(hours=index * 3))
            clock.freeze(moment)
            answer = steps[0][3]["answer"] if steps and steps[0][2] == "answer" else ""
            record = service_requests.create_request(user=by_name["agent"], values={
                "type": kind, "customer_id": customers[index].id, "summary": summary, "detail": detail,
                "answer": answer})
            for hours, username, step, data in steps if not answer else []:
                moment = add_working_time(moment, timedelta(hours=hours))
                clock.freeze(moment)
                values = dict(data)
                if "departments" in values:
                    values["departments"] = [departments[name] for name in values["departments"]]
                if isinstance(values.get("deduction_department_id"), str):
                    values["deduction_department_id"] = departments[values["deduction_department_id"]]
                if isinstance(values.get("handler_id"), str):
                    values["handler_id"] = by_name[values["handler_id"]].id
                user = by_name[username]
                tasks = db.session.scalars(select(HumanTask).where(
                    HumanTask.instance_id == record.process_instance_id, HumanTask.bpmn_id == step,
                    HumanTask.status == TaskStatus.OPEN)).all()
                task = next(t for t in tasks if human_tasks.actions(user, t))
                human_tasks.complete_task(task_id=task.id, user=user, data=values)
    finally:
        clock.unfreeze()
    return len(DEMO_SERVICE_REQUESTS)
