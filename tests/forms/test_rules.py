"""Field rules: how a value is read, what the page form and the JSON schema make of a rule."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from bpm_crm.errors import Invalid
from bpm_crm.forms.json_schema import json_schema, property_schema
from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import (
    FieldProblem,
    check,
    choice,
    day,
    decimal,
    email,
    integer,
    phone,
    read,
    read_all,
    record,
    record_id,
    text,
)

PERSON = record(
    "person",
    text("name", "姓名", 5, required="请填写姓名"),
    choice("gender", "性别", "性别不对", options={"男": "男", "女": "女"}),
    choice("kind", "类型", "不在字典中", source="类型"),
    phone("phone", "电话"),
    email("email", "邮箱"),
    day("birthday", "生日"),
    record_id("customer_id", "客户", required="请选择客户"),
    integer("score", "评分", 1, 5, "应为 1 到 5"),
    decimal("price", "单价", Decimal(0), Decimal(100), "价格不对", not_number="应为数字", exact_places=True),
    decimal("budget", "预算", Decimal(0), Decimal(100), "预算不对", not_number="应为数字"),
)
VALID = {"name": "钱伟", "customer_id": "7", "kind": "甲"}
OPTIONS = {"kind": ["甲", "乙"]}


def problem(name: str, raw: object) -> str:
    with pytest.raises(FieldProblem) as caught:
        read(PERSON[name], raw, OPTIONS.get(name))
    return caught.value.message


@pytest.mark.parametrize(("name", "raw", "value"), [
    ("name", "  钱伟 ", "钱伟"), ("gender", "  ", None), ("phone", "", None),
    ("birthday", "1985-06-01", date(1985, 6, 1)), ("birthday", date(1985, 6, 1), date(1985, 6, 1)),
    ("customer_id", 7, 7), ("customer_id", " 7 ", 7), ("score", "5", 5), ("score", 2.0, 2), ("score", "", None),
    ("price", "9.90", Decimal("9.90")), ("price", 3, Decimal("3.00")), ("budget", "1.005", Decimal("1.00")),
    ("kind", "乙", "乙"),
])
def test_values_are_read_to_their_type(name, raw, value):
    assert read(PERSON[name], raw, OPTIONS.get(name)) == value


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("name", "", "请填写姓名"), ("name", 5, "应为文本"), ("gender", "x", "性别不对"), ("kind", "丙", "不在字典中"),
    ("phone", "call me", "电话号码格式不正确"), ("email", "a-at-b", "电子邮箱格式不正确"),
    ("birthday", "1985-02-30", "日期格式应为 YYYY-MM-DD"), ("customer_id", "", "请选择客户"),
    ("customer_id", "²", "应为记录编号（整数）"), ("customer_id", 2**31, "应为记录编号（整数）"),
    ("score", "6", "应为 1 到 5"), ("score", True, "应为 1 到 5"), ("score", "1.5", "应为 1 到 5"),
    ("price", "abc", "应为数字"), ("price", "1.005", "价格不对"), ("price", "-1", "价格不对"),
    ("price", "NaN", "价格不对"), ("price", False, "价格不对"),
])
def test_a_bad_value_gets_its_rules_message(name, raw, message):
    assert problem(name, raw) == message


def test_too_long_text_names_the_limit(app):
    assert problem("name", "钱钱钱钱钱钱") == "最多 5 个字符"


def test_check_reports_every_bad_field_at_once_and_a_change_only_what_it_gives():
    with pytest.raises(Invalid) as caught:
        check({"gender": "x", "score": "9"}, PERSON, options=OPTIONS)
    assert caught.value.field_errors == {"name": ["请填写姓名"], "gender": ["性别不对"], "score": ["应为 1 到 5"],
                                         "customer_id": ["请选择客户"]}
    assert check({"score": "3"}, PERSON, partial=True, options=OPTIONS) == {"score": 3}
    with pytest.raises(Invalid) as caught:
        check({"name": " "}, PERSON, partial=True, options=OPTIONS)  # a required field cannot be emptied
    assert caught.value.field_errors == {"name": ["请填写姓名"]}


def test_a_service_adds_its_own_findings_to_the_field_messages():
    checked = read_all(VALID, PERSON, options=OPTIONS)
    checked.fail("customer_id", "客户不存在或您无权查看")
    with pytest.raises(Invalid) as caught:
        checked.done()
    assert caught.value.field_errors == {"customer_id": ["客户不存在或您无权查看"]}


def test_a_data_sourced_choice_cannot_be_checked_without_its_values():
    with pytest.raises(KeyError):
        read_all(VALID, PERSON)


@pytest.fixture
def backend() -> str:
    """Forms need an app for translation, not a particular database."""
    return "sqlite"


def test_the_page_form_has_a_field_per_rule_saying_what_the_service_says(app):
    form_class = record_form(PERSON)
    with app.test_request_context():
        form = form_class(formdata=MultiDict({"name": "钱伟钱伟钱伟", "gender": "x", "kind": "丙",
                                              "customer_id": "abc", "score": "9", "price": "1.005"}),
                          meta={"csrf": False})
        form.kind.choices = [("", "—"), ("甲", "甲")]
        assert not form.validate()
        assert form.errors == {"name": ["最多 5 个字符"], "gender": ["性别不对"], "kind": ["不在字典中"],
                               "customer_id": ["应为记录编号（整数）"], "score": ["应为 1 到 5"],
                               "price": ["价格不对"]}
        assert form.name.flags.required and form.name.flags.maxlength == 5 and not form.phone.flags.required
        assert 'type="date"' in form.birthday() and 'type="number"' in form.score() and "<select" in form.gender()
        assert form.values()["customer_id"] == "abc"  # left for the service to name, never guessed


def test_the_json_schema_of_a_rule():
    assert property_schema(PERSON["name"]) == {"type": "string", "minLength": 1, "maxLength": 5}
    assert property_schema(PERSON["gender"]) == {"oneOf": [{"enum": ["男", "女"]}, {"type": "null"}]}
    assert property_schema(PERSON["kind"], ["甲"])["oneOf"][0] == {"enum": ["甲"]}
    assert property_schema(PERSON["email"])["oneOf"][0]["format"] == "email"
    assert property_schema(PERSON["score"])["oneOf"][0] == {"type": "integer", "minimum": 1, "maximum": 5}
    schema = json_schema(PERSON, read_only=["kind"], extra={"note": {"type": "string"}})
    assert schema["required"] == ["name", "customer_id"] and schema["additionalProperties"] is False
    assert schema["properties"]["kind"]["readOnly"] is True and "note" in schema["properties"]
    assert json_schema(PERSON, partial=True)["required"] == []


def test_a_declared_default_is_the_value_the_form_shows_and_the_service_reads(app):
    discount = decimal("discount", "折扣", Decimal(0), Decimal(100), "折扣不对", not_number="应为数字",
                       default=Decimal(0))
    assert read(discount, "") == read(discount, None) == Decimal(0)
    assert property_schema(discount)["oneOf"][0]["default"] == 0
    with app.test_request_context():
        form = record_form(record("line", discount))(formdata=None, meta={"csrf": False})
        assert 'value="0"' in form.discount()
