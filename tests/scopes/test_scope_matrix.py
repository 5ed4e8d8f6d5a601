"""Data scopes everywhere: every record type × role, through pages and API, by list and by direct id.

manager1 (销售一部, under supervisor1) and manager2 (销售二部, under supervisor2) each own a customer with one
record of every type. Each user must see exactly the records the table below grants him — a record outside his
scope is absent from his lists and its id answers 403/404 with none of its data.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import flask_babel
import pytest
from flask import g
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import (
    Attachment,
    CareTask,
    ChurnMeasure,
    ChurnWarning,
    Contact,
    Customer,
    Interaction,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
    ServiceRequest,
    User,
)
from bpm_crm.services.demo import DEMO_PASSWORD

BOTH, M1, M2, NONE = {"m1", "m2"}, {"m1"}, {"m2"}, set()

# record type -> (page detail URL, page list URL or None, API detail path, API list path or None)
ROUTES = {
    "customer": ("/customers/{id}", "/customers/", "/customers/{id}", "/customers"),
    "contact": ("/contacts/{id}", "/contacts/", "/contacts/{id}", "/contacts"),
    "interaction": ("/interactions/{id}", "/interactions/", "/interactions/{id}", "/interactions"),
    "quote": ("/quotes/{id}", "/quotes/", "/quotes/{id}", "/quotes"),
    "service_request": ("/service/{id}", "/service/", "/service-requests/{id}", "/service-requests"),
    "churn_warning": ("/churn/{id}", "/churn/", "/churn-warnings/{id}", "/churn-warnings"),
    "care_task": ("/care/{id}", "/care/", "/care-tasks/{id}", "/care-tasks"),
    "order": ("/orders/{id}", "/customers/{customer}/orders", "/orders/{id}", "/customers/{customer}/orders"),
    "attachment": ("/attachments/{id}", None, "/attachments/{id}",
                   "/attachments?record_type=customer&record_id={customer}"),
}

SALES_CHAIN = {"manager1": M1, "manager2": M2, "manager3": NONE, "supervisor1": M1, "supervisor2": M2,
               "director": BOTH, "ceo": BOTH, "admin": BOTH, "quality": NONE, "owner": NONE}
# Who sees which owner's records, per type. Account managers see their own, supervisors their subordinates',
# the director, the executive and the admin everyone's; the service agent reads every customer for his calls
# but not the sales records (quotes, churn, care); the department head reads a complaint only while his
# department signs it off (tests/processes/test_complaint_process.py), so none of these.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "customer": {**SALES_CHAIN, "agent": BOTH},
    "contact": {**SALES_CHAIN, "agent": BOTH},
    "interaction": {**SALES_CHAIN, "agent": BOTH},
    "quote": {**SALES_CHAIN, "agent": NONE},
    "service_request": {**SALES_CHAIN, "agent": BOTH},
    "churn_warning": {**SALES_CHAIN, "agent": NONE},
    "care_task": {**SALES_CHAIN, "agent": NONE},
    "order": {**SALES_CHAIN, "agent": BOTH},
    "attachment": {**SALES_CHAIN, "agent": BOTH},
}
USERS = sorted(SALES_CHAIN.keys() | {"agent"})


def _records_for(owner, tag: str) -> dict[str, object]:
    """A customer of `owner` with one record of every type; every visible text carries `tag`."""
    customer = Customer(name=f"范围测试客户{tag}", number=f"KS{tag}", owner_id=owner.id, created_by_id=owner.id,
                        phone="0571-8888" + tag[-1])
    db.session.add(customer)
    db.session.flush()
    contact = Contact(customer_id=customer.id, name=f"联系人{tag}", gender="男", position="经理",
                      office_phone="0571-1234567", created_by_id=owner.id)
    interaction = Interaction(customer_id=customer.id, date=date(2026, 11, 1), place="杭州",
                              summary=f"拜访纪要{tag}", created_by_id=owner.id)
    quote = Quote(customer_id=customer.id, name=f"报价单{tag}", number=f"BJS{tag}", quote_date=date(2026, 11, 2),
                  total=Decimal("100.00"), created_by_id=owner.id)
    quote.lines.append(QuoteLine(product_name="产品", quantity=1, unit_price=Decimal("100"), amount=Decimal("100")))
    service = ServiceRequest(number=f"FWS{tag}", type="咨询", summary=f"服务请求{tag}", customer_id=customer.id,
                             detail="咨询价格", created_by_id=owner.id)
    churn = ChurnWarning(customer_id=customer.id, manager_id=owner.id, reason=f"流失原因{tag}",
                         last_order_date=date(2026, 1, 1), created_by_id=owner.id)
    churn.measures.append(ChurnMeasure(content=f"暂缓措施{tag}", author_id=owner.id))
    care = CareTask(customer_id=customer.id, kind="生日", title=f"生日关怀{tag}", due_date=date.today() + timedelta(3),
                    assignee_id=owner.id, created_by_id=owner.id)
    order = Order(number=f"DDS{tag}", customer_id=customer.id, order_date=date(2026, 10, 1), status=5,
                  total=Decimal("300.00"))
    order.lines.append(OrderLine(product_name=f"订单产品{tag}", quantity=3, unit_price=Decimal("100"),
                                 amount=Decimal("300")))
    db.session.add_all([contact, interaction, quote, service, churn, care, order])
    db.session.flush()
    attachment = Attachment(record_type="customer", record_id=customer.id, filename=f"附件{tag}.txt",
                            content_type="text/plain", size=4, sha256="0" * 64, uploaded_by_id=owner.id)
    db.session.add(attachment)
    db.session.flush()
    return {"customer": customer, "contact": contact, "interaction": interaction, "quote": quote,
            "service_request": service, "churn_warning": churn, "care_task": care, "order": order,
            "attachment": attachment, "tag": tag}


MARKERS = {  # the text of each record that a page showing it must contain
    "customer": "范围测试客户{tag}", "contact": "联系人{tag}", "interaction": "拜访纪要{tag}", "quote": "报价单{tag}",
    "service_request": "服务请求{tag}", "churn_warning": "流失原因{tag}", "care_task": "生日关怀{tag}",
    "order": "DDS{tag}", "attachment": "附件{tag}",
}
LIST_MARKERS = {**MARKERS, "churn_warning": "范围测试客户{tag}"}  # the churn list names the customer


@pytest.fixture
def world(app, users, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path)
    (tmp_path / ("0" * 64)).write_bytes(b"data")
    records = {"m1": _records_for(users["manager1"], "M1"), "m2": _records_for(users["manager2"], "M2")}
    db.session.commit()
    return {owner: {kind: (value.id if kind != "tag" else value) for kind, value in items.items()}
            for owner, items in records.items()}


def _client(app, username):
    client = app.test_client()

    def fresh(*args, **kwargs):
        g.pop("_login_user", None)
        flask_babel.refresh()
        return original(*args, **kwargs)

    original = client.open
    client.open = fresh  # type: ignore[method-assign]
    response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, username
    return client


def _token(app, username) -> dict[str, str]:
    response = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json['token']}"}


def _url(template: str, owner_records: dict, kind: str) -> str:
    return template.format(id=owner_records[kind], customer=owner_records["customer"])


@pytest.mark.parametrize("username", USERS)
def test_pages_show_exactly_the_records_in_scope(app, world, username):
    client = _client(app, username)
    for kind, (detail, listing, _api_detail, _api_list) in ROUTES.items():
        for owner in ("m1", "m2"):
            records = world[owner]
            marker = MARKERS[kind].format(tag=records["tag"])
            visible = owner in EXPECTED[kind][username]
            response = client.get(_url(detail, records, kind))
            body = response.get_data(as_text=True) if kind != "attachment" else ""
            if visible:
                assert response.status_code == 200, (username, kind, owner, response.status_code)
                assert kind == "attachment" or marker in body, (username, kind, owner)
            else:
                assert response.status_code in (403, 404), (username, kind, owner, response.status_code)
                assert marker not in body, (username, kind, owner)
            if listing is None:
                continue
            response = client.get(_url(listing, records, kind))
            assert response.status_code in (200, 403, 404), (username, kind, "list", response.status_code)
            list_marker = LIST_MARKERS[kind].format(tag=records["tag"])
            listed = response.status_code == 200 and list_marker in response.get_data(as_text=True)
            assert listed == visible, (username, kind, owner, "list")


@pytest.mark.parametrize("username", USERS)
def test_api_returns_exactly_the_records_in_scope(app, world, username):
    client = app.test_client()
    headers = _token(app, username)
    for kind, (_detail, _listing, api_detail, api_list) in ROUTES.items():
        for owner in ("m1", "m2"):
            records = world[owner]
            visible = owner in EXPECTED[kind][username]
            response = client.get("/api/v1" + _url(api_detail, records, kind), headers=headers)
            if visible:
                assert response.status_code == 200, (username, kind, owner, response.status_code)
            else:
                assert response.status_code in (403, 404), (username, kind, owner, response.status_code)
                assert response.is_json and set(response.json) == {"error"}, (username, kind, owner)
            if api_list is None:
                continue
            response = client.get("/api/v1" + _url(api_list, records, kind), headers=headers)
            assert response.status_code in (200, 403, 404), (username, kind, "list", response.status_code)
            ids = {item["id"] for item in response.json.get("items", [])} if response.status_code == 200 else set()
            assert (records[kind] in ids) == visible, (username, kind, owner, "list")


@pytest.mark.parametrize("username", ["manager1", "manager3", "supervisor2", "agent"])
def test_updates_outside_the_scope_change_nothing(app, world, username):
    """Writing to manager1's records: only manager1 himself may; everyone else gets 403/404 and no change."""
    client = app.test_client()
    headers = _token(app, username)
    records = world["m1"]
    attempts = [
        ("patch", f"/customers/{records['customer']}", {"phone": "0000000"}),
        ("patch", f"/contacts/{records['contact']}", {"position": "改过的职位"}),
        ("patch", f"/interactions/{records['interaction']}", {"place": "改过的地点"}),
        ("patch", f"/quotes/{records['quote']}", {"name": "改过的报价"}),
        ("delete", f"/care-tasks/{records['care_task']}", None),
        ("delete", f"/contacts/{records['contact']}", None),
    ]
    for method, path, payload in attempts:
        response = getattr(client, method)("/api/v1" + path, json=payload, headers=headers)
        if username == "manager1":
            assert response.status_code in (200, 204), (path, response.status_code, response.json)
        else:
            assert response.status_code in (403, 404), (username, path, response.status_code)
    if username != "manager1":
        db.session.expire_all()
        assert db.session.get(Customer, records["customer"]).phone == "0571-8888" + "1"
        assert db.session.get(Contact, records["contact"]).position == "经理"
        assert db.session.get(Quote, records["quote"]).name == "报价单M1"
        assert db.session.get(CareTask, records["care_task"]) is not None


# Transfers (客户转移): supervisor1 gives manager1's customer to manager3 (same team). Each row is one rule of
# what follows the customer and what stays, as the transfer dialog states it: who of the previous (manager1)
# and the new account manager (manager3) reads the record afterwards, and who holds it.
FOLLOW_UP_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="customer_follow_up_definitions" targetNamespace="http://bpm-crm.example/tests">
  <bpmn:process id="customer_follow_up" name="客户跟进" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="call" name="电话回访">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="assignee" value="assignee_id"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="review" name="主管复核">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="candidates" value="role:sales_supervisor"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="call"/>
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="review"/>
    <bpmn:sequenceFlow id="f4" sourceRef="call" targetRef="join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="review" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
OLD, NEW = "manager1", "manager3"

# rule -> (record kind, who of OLD/NEW reads it afterwards, who holds it afterwards or None)
TRANSFER_RULES: dict[str, tuple[str, set[str], str | None]] = {
    "customer goes to the new manager": ("customer", {NEW}, NEW),
    "contacts belong to the customer": ("contact", {NEW}, None),
    "interactions belong to the customer": ("interaction", {NEW}, None),
    "orders belong to the customer": ("order", {NEW}, None),
    "attachments belong to the customer": ("attachment", {NEW}, None),
    "open care follows": ("care_task", {NEW}, NEW),
    "care given stays with who gave it": ("care_done", {NEW}, OLD),
    "open churn warning follows": ("churn_warning", {NEW}, NEW),
    "closed churn warning keeps its manager": ("churn_closed", {NEW}, OLD),
    "draft quote: the new manager edits, its author reads": ("quote", {OLD, NEW}, NEW),
    "quote under approval: its author still reads it": ("quote_pending", {OLD, NEW}, None),
    "service request: its creator still reads it": ("service_request", {OLD, NEW}, None),
    "open process task of the old manager follows": ("task_mine", {NEW}, NEW),
    "offered process task moves into the new manager's scope": ("task_offered", {NEW}, NEW),
    "opportunity stays with its assignee": ("opportunity", {OLD}, OLD),
}
DETAIL_PAGES = {**{kind: urls[0] for kind, urls in ROUTES.items()}, "care_done": "/care/{id}",
                "churn_closed": "/churn/{id}", "quote_pending": "/quotes/{id}", "task_mine": "/tasks/{id}",
                "task_offered": "/tasks/{id}", "opportunity": "/opportunities/{id}"}


def _holder(kind: str, record_id: int) -> int | None:
    """Who holds a record after the transfer (owner, assignee, manager, the quote's editor)."""
    from bpm_crm.models import HumanTask, Opportunity
    from bpm_crm.services import quotes

    db.session.expire_all()
    if kind == "customer":
        return db.session.get(Customer, record_id).owner_id
    if kind in ("care_task", "care_done"):
        return db.session.get(CareTask, record_id).assignee_id
    if kind in ("churn_warning", "churn_closed"):
        return db.session.get(ChurnWarning, record_id).manager_id
    if kind == "quote":
        quote = db.session.get(Quote, record_id)
        editors = [user for user in db.session.scalars(select(User).where(User.username.in_((OLD, NEW))))
                   if quotes.may_update(user, quote)]
        return editors[0].id if len(editors) == 1 else None
    if kind == "task_mine":
        return db.session.get(HumanTask, record_id).assignee_id
    if kind == "task_offered":
        return db.session.get(HumanTask, record_id).scope_user_id
    if kind == "opportunity":
        return db.session.get(Opportunity, record_id).assignee_id
    raise AssertionError(kind)


@pytest.fixture
def transferred(app, world, users):
    """manager1's customer with finished and open work of every kind, transferred by supervisor1 to manager3."""
    from bpm_crm.models import ChurnStatus, HumanTask, Opportunity, QuoteStatus, TaskStatus
    from bpm_crm.services import definitions, instances

    m1 = users[OLD]
    records = dict(world["m1"])
    customer_id = records["customer"]
    done = CareTask(customer_id=customer_id, kind="节日", title="中秋关怀", due_date=date(2026, 9, 20),
                    assignee_id=m1.id, done_by_id=m1.id, done_at=datetime(2026, 9, 20, 2), created_by_id=m1.id)
    closed = ChurnWarning(customer_id=customer_id, manager_id=m1.id, status=ChurnStatus.RECOVERED.value,
                          last_order_date=date(2025, 1, 1), created_by_id=m1.id)
    pending = Quote(customer_id=customer_id, name="审批中的报价", number="BJSP1", quote_date=date(2026, 11, 3),
                    total=Decimal("0"), status=QuoteStatus.PENDING.value, created_by_id=m1.id)
    opportunity = Opportunity(number="JHS001", source="展会", customer_name="范围测试客户M1", probability=50,
                              summary="老客户加购", description="加购", status="已指派", assignee_id=m1.id,
                              created_by_id=m1.id)
    db.session.add_all([done, closed, pending, opportunity])
    db.session.commit()
    definitions.deploy(xml=FOLLOW_UP_BPMN, file_name="customer_follow_up.bpmn")
    instance = instances.start_instance(process_id="customer_follow_up", business_type="customer",
                                        business_id=customer_id, owner_id=m1.id, title="客户跟进",
                                        data={"assignee_id": m1.id}, user=m1)
    db.session.commit()
    tasks = {task.bpmn_id: task.id for task in db.session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN))}
    records.update(care_done=done.id, churn_closed=closed.id, quote_pending=pending.id, opportunity=opportunity.id,
                   task_mine=tasks["call"], task_offered=tasks["review"])

    supervisor = _client(app, "supervisor1")
    dialog = supervisor.get(f"/customers/{customer_id}").get_data(as_text=True)
    response = supervisor.post(f"/customers/{customer_id}/transfer",
                               data={"to_user_id": users[NEW].id, "reason": "区域调整"}, follow_redirects=True)
    assert response.status_code == 200
    return {"records": records, "dialog": dialog, "message": response.get_data(as_text=True)}


def test_the_transfer_dialog_states_the_rule_with_counts(transferred):
    dialog = transferred["dialog"]
    assert 'id="transfer-rule"' in dialog
    for key, label in (("care_task", "未完成的客户关怀"), ("churn_warning", "未关闭的流失预警"),
                       ("quote", "草稿报价"), ("task", "原客户经理在此客户流程中的待办任务")):
        item = dialog.split(f'data-handover="{key}"')[1].split("</li>")[0]
        assert label in item and "<strong>1</strong>" in item, key
    assert "报价的制作人仍可查看自己制作的报价" in dialog and "销售机会仍由其负责人跟进" in dialog
    assert "随之转交" in transferred["message"] and "未完成的客户关怀 1" in transferred["message"]


@pytest.mark.parametrize("rule", list(TRANSFER_RULES))
def test_transfer_rule(app, users, transferred, rule):
    kind, readers, holder = TRANSFER_RULES[rule]
    records = transferred["records"]
    url = DETAIL_PAGES[kind].format(id=records[kind])
    for username in (OLD, NEW):
        response = _client(app, username).get(url)
        if username in readers:
            assert response.status_code == 200, (rule, username, response.status_code)
        else:
            assert response.status_code in (403, 404), (rule, username, response.status_code)
    if holder is not None:
        assert _holder(kind, records[kind]) == users[holder].id, rule


def test_handed_over_tasks_leave_the_old_inbox_for_the_new_one(app, transferred):
    task_id = transferred["records"]["task_mine"]
    assert f'href="/tasks/{task_id}"' not in _client(app, OLD).get("/?view=mine").get_data(as_text=True)
    new_inbox = _client(app, NEW).get("/?view=mine").get_data(as_text=True)
    assert f'href="/tasks/{task_id}"' in new_inbox
    history = _client(app, NEW).get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "转派" in history and "区域调整" in history
