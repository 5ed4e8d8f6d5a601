"""Each record's field rules are stated once: its page, its service and its API refuse a bad value alike.

The same bad value goes to the page (a form post), to the service and to the API; each names the same field
with the same message, and nothing is saved.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Invalid
from bpm_crm.extensions import db
from bpm_crm.models import (
    CareTask,
    ChurnWarning,
    Contact,
    Customer,
    Interaction,
    Opportunity,
    Quote,
    QuoteLine,
    ServiceRequest,
    User,
)
from bpm_crm.services import care, churn, contacts, customers, interactions, opportunities, quotes, service_requests
from bpm_crm.services.demo import DEMO_PASSWORD

FIELD_ERROR = re.compile(r'data-field-error="([\w.]+)">([^<]*)</')


@dataclass
class Context:
    """What a record's values refer to: the signed-in manager, his customer and a draft quote."""

    user: User
    customer_id: int
    quote_id: int


@dataclass(frozen=True)
class Record:
    """How a record is created on its page, by its service and over the API, with valid values."""

    page: str
    api: str
    model: type
    valid: Callable[[Context], dict[str, Any]]
    create: Callable[[Context, dict[str, Any]], object]


RECORDS = {
    "contact": Record(
        "/contacts/new", "/api/v1/contacts", Contact,
        lambda c: {"customer_id": c.customer_id, "name": "钱伟", "gender": "男", "position": "采购经理",
                   "office_phone": "0571-88886666"},
        lambda c, values: contacts.create_contact(user=c.user, values=values)),
    "interaction": Record(
        "/interactions/new", "/api/v1/interactions", Interaction,
        lambda c: {"customer_id": c.customer_id, "date": "2020-01-06", "place": "客户会议室", "summary": "演示"},
        lambda c, values: interactions.create_interaction(user=c.user, values=values)),
    "customer": Record(
        "/customers/new", "/api/v1/customers", Customer,
        lambda c: {"name": "宁波港联物流有限公司", "phone": "0574-86001234"},
        lambda c, values: customers.create_customer(user=c.user, values=values)),
    "opportunity": Record(
        "/opportunities/new", "/api/v1/opportunities", Opportunity,
        lambda c: {"customer_name": "杭州测试科技有限公司", "probability": "60", "summary": "采购办公软件",
                   "description": "有意向更换办公系统"},
        lambda c, values: opportunities.create_opportunity(user=c.user, values=values)),
    "care_task": Record(
        "/care/new", "/api/v1/care-tasks", CareTask,
        lambda c: {"customer_id": c.customer_id, "kind": "生日", "title": "生日问候", "due_date": "2026-12-01"},
        lambda c, values: care.create_care_task(user=c.user, values=values)),
    "churn_warning": Record(
        "/churn/new", "/api/v1/churn-warnings", ChurnWarning,
        lambda c: {"customer_id": c.customer_id},
        lambda c, values: churn.create_warning(user=c.user, values=values)),
    "service_request": Record(
        "/service/new", "/api/v1/service-requests", ServiceRequest,
        lambda c: {"type": "投诉", "customer_id": c.customer_id, "summary": "设备频繁死机", "detail": "每天死机"},
        lambda c, values: service_requests.create_request(user=c.user, values=values)),
    "quote": Record(
        "/quotes/new", "/api/v1/quotes", Quote,
        lambda c: {"customer_id": c.customer_id, "name": "年度采购报价", "quote_date": "2026-11-20"},
        lambda c, values: quotes.create_quote(user=c.user, values=values)),
    "quote_line": Record(
        "/quotes/{quote}/lines", "/api/v1/quotes/{quote}/lines", QuoteLine,
        lambda c: {"product_name": "办公软件", "quantity": "2", "unit_price": "10"},
        lambda c, values: quotes.add_line(quote_id=c.quote_id, user=c.user, values=values)),
}

LONG = "长" * 4001
BAD_VALUES = [
    ("contact", "name", ""), ("contact", "name", LONG[:61]), ("contact", "gender", "x"),
    ("contact", "office_phone", "call me"), ("contact", "mobile", "1"), ("contact", "email", "qian-at-example"),
    ("contact", "birthday", "1985-02-30"), ("contact", "customer_id", "abc"), ("contact", "remarks", LONG[:2001]),
    ("interaction", "date", ""), ("interaction", "date", "20.11.2026"), ("interaction", "place", LONG[:121]),
    ("interaction", "summary", ""), ("interaction", "detail", LONG), ("interaction", "customer_id", "0"),
    ("customer", "name", ""), ("customer", "short_name", LONG[:61]), ("customer", "phone", "call me"),
    ("customer", "fax", "1"), ("customer", "postcode", "abc"), ("customer", "satisfaction", "6"),
    ("customer", "credit", "x"), ("customer", "registered_capital", "-5"), ("customer", "annual_turnover", "abc"),
    ("customer", "level", "钻石"), ("customer", "region", "火星"), ("customer", "industry", "x"),
    ("customer", "source", "x"),
    ("opportunity", "customer_name", ""), ("opportunity", "probability", "101"),
    ("opportunity", "probability", "很高"), ("opportunity", "probability", ""), ("opportunity", "summary", LONG[:201]),
    ("opportunity", "contact_phone", "call me"), ("opportunity", "description", ""),
    ("care_task", "kind", "x"), ("care_task", "kind", ""), ("care_task", "title", LONG[:201]),
    ("care_task", "due_date", "2026-02-30"), ("care_task", "contact_id", "abc"), ("care_task", "assignee_id", "0"),
    ("care_task", "customer_id", ""),
    ("churn_warning", "customer_id", "abc"), ("churn_warning", "customer_id", ""),
    ("service_request", "type", "表扬"), ("service_request", "type", ""), ("service_request", "summary", ""),
    ("service_request", "detail", LONG), ("service_request", "customer_id", "abc"),
    ("quote", "name", ""), ("quote", "name", LONG[:121]), ("quote", "quote_date", "2026-13-01"),
    ("quote", "quote_date", ""), ("quote", "contact_id", "abc"), ("quote", "remarks", LONG),
    ("quote", "customer_id", ""),
    ("quote_line", "quantity", "0"), ("quote_line", "quantity", "1.5"), ("quote_line", "quantity", ""),
    ("quote_line", "unit_price", "1.005"), ("quote_line", "unit_price", "abc"), ("quote_line", "unit_price", ""),
    ("quote_line", "discount_pct", "101"), ("quote_line", "discount_pct", "x"),
    ("quote_line", "product_name", LONG[:121]), ("quote_line", "product_id", "abc"),
]


@pytest.fixture
def context(users) -> Context:
    manager = users["manager1"]
    customer = Customer(name="杭州云启科技有限公司", number="KH900001", owner_id=manager.id)
    db.session.add(customer)
    db.session.commit()
    quote = quotes.create_quote(user=manager, values={"customer_id": customer.id, "name": "草稿",
                                                      "quote_date": "2026-11-20"})
    return Context(user=manager, customer_id=customer.id, quote_id=quote.id)


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _page_errors(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, message in FIELD_ERROR.findall(html):
        found.setdefault(name, []).append(unescape(message))
    return found


@pytest.mark.parametrize(("record", "field", "value"), BAD_VALUES,
                         ids=[f"{r}-{f}-{i}" for i, (r, f, _v) in enumerate(BAD_VALUES)])
def test_page_service_and_api_refuse_a_bad_value_naming_the_same_field(login, client, context, record, field,
                                                                        value):
    spec = RECORDS[record]
    values = {**spec.valid(context), field: value}
    before = _count(spec.model)

    with pytest.raises(Invalid) as refused:
        spec.create(context, values)
    expected = refused.value.field_errors
    assert list(expected) == [field]

    page = login("manager1").post(spec.page.format(quote=context.quote_id), data=values)
    assert page.status_code == 422
    assert _page_errors(page.get_data(as_text=True)) == expected

    token = client.post("/api/v1/auth/token", json={"username": "manager1", "password": DEMO_PASSWORD}).json
    api = client.post(spec.api.format(quote=context.quote_id), json=values,
                      headers={"Authorization": f"Bearer {token['token']}"})
    assert api.status_code == 422, api.get_data(as_text=True)
    assert api.json["error"]["fields"] == expected
    assert _count(spec.model) == before


def test_every_converted_record_is_fed_bad_values():
    assert {record for record, _field, _value in BAD_VALUES} == set(RECORDS)
