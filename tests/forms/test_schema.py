"""Task forms as data: a definition is checked before deploy and every submission is checked against it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bpm_crm.errors import Invalid
from bpm_crm.forms.schema import FormInvalid, check_form

FORMS = Path(__file__).resolve().parents[2] / "processes" / "forms"
SOURCES = {"account_managers", "dictionary.*", "role.*"}


def shipped(name: str):
    return check_form(json.loads((FORMS / f"{name}.form").read_text()), option_sources=SOURCES, reserved={"len"})


def form(*components, **extra):
    return check_form({"id": "t", "components": list(components), **extra}, option_sources=SOURCES,
                      reserved={"len", "today"})


def errors(schema, data, **kwargs):
    with pytest.raises(Invalid) as caught:
        schema.clean(data, initial=kwargs.pop("initial", {}), options=kwargs.pop("options", {}), **kwargs)
    return caught.value.field_errors


MANAGERS = {"options.account_managers": [{"label": "李明（销售一部）", "value": 3}, {"label": "赵敏", "value": 5}]}


def test_assign_form_takes_only_an_offered_manager():
    schema = shipped("assign_opportunity")
    assert schema.clean({"assignee_id": 3}, initial={}, options=MANAGERS) == {"assignee_id": 3}
    assert schema.clean({"assignee_id": "5"}, initial={}, options=MANAGERS) == {"assignee_id": 5}  # an HTML post
    assert errors(schema, {"assignee_id": 4}, options=MANAGERS) == {"assignee_id": ["请从列表中选择"]}
    assert errors(schema, {}, options=MANAGERS) == {"assignee_id": ["请选择客户经理"]}
    assert errors(schema, {"assignee_id": True}, options=MANAGERS) == {"assignee_id": ["请从列表中选择"]}
    assert set(errors(schema, {"assignee_id": 3, "approved_by_sup": True, "len": 0}, options=MANAGERS)) == {
        "approved_by_sup", "len"}


def test_plan_rows_are_checked_one_by_one():
    schema = shipped("development_plan")
    assert schema.clean({"plan_items": [{"date": "2026-12-01", "content": " 电话拜访 "}]}, initial={},
                        options={}) == {"plan_items": [{"date": "2026-12-01", "content": "电话拜访"}]}
    assert errors(schema, {"plan_items": [{"date": "2026-12-01", "content": "a"},
                                          {"date": "2026/12/08", "content": ""}]}) == {
        "plan_items.1.date": ["日期格式应为 YYYY-MM-DD"], "plan_items.1.content": ["请填写计划内容"]}
    assert errors(schema, {"plan_items": [{"date": "2026-02-30", "content": "a"}]}) == {
        "plan_items.0.date": ["日期格式应为 YYYY-MM-DD"]}
    assert errors(schema, {"plan_items": []}) == {"plan_items": ["至少需要一行"]}
    assert schema.clean({"plan_items": []}, initial={}, options={}, final=False) == {"plan_items": []}
    assert errors(schema, {"plan_items": [{"date": "2026-12-01", "content": "x" * 2001}]}) == {
        "plan_items.0.content": ["最多 2000 个字符"]}
    assert errors(schema, {"plan_items": [{"date": "2026-12-01", "content": "a", "id": 1}]}) == {
        "plan_items.0.id": ["表单中没有此字段"]}
    assert errors(schema, {"plan_items": "x"}) == {"plan_items": ["应为列表"]}
    assert errors(schema, {"plan_items": [{"date": "2026-12-01", "content": "a"}] * 201}) == {
        "plan_items": ["最多 200 行"]}


def test_fixed_rows_keep_what_the_server_gave_them():
    schema = shipped("execute_plan")
    initial = {"plan_results": [{"id": 7, "date": "2026-12-01", "content": "电话", "result": None},
                                {"id": 8, "date": "2026-12-08", "content": "演示", "result": None}]}
    cleaned = schema.clean({"plan_results": [{"result": "有意向", "content": "改过的"}, {"result": ""}],
                            "decision": "success"}, initial=initial, options={})
    assert cleaned["plan_results"][0] == {"id": 7, "date": "2026-12-01", "content": "电话", "result": "有意向"}
    assert cleaned["plan_results"][1]["id"] == 8 and cleaned["decision"] == "success"
    assert errors(schema, {"plan_results": [{"result": "x"}], "decision": "fail"}, initial=initial) == {
        "plan_results": ["不能增减此列表的行"]}
    assert errors(schema, {"plan_results": [{}, {}], "decision": "maybe"}, initial=initial) == {
        "decision": ["请从列表中选择"]}
    echoed = schema.clean({"plan_results": [{"id": 7, "result": "a"}, {"id": 8}], "decision": "fail"},
                          initial=initial, options={})
    assert [row["id"] for row in echoed["plan_results"]] == [7, 8]  # a client may send the rows back as given
    assert errors(schema, {"plan_results": [{"id": 8}, {"id": 7}], "decision": "fail"}, initial=initial) == {
        "plan_results.0.id": ["此项不可修改"], "plan_results.1.id": ["此项不可修改"]}


def test_hidden_and_disabled_fields_are_neither_required_nor_kept():
    schema = form(
        {"type": "radio", "key": "decision",
         "values": [{"label": "同意", "value": "yes"}, {"label": "拒绝", "value": "no"}],
         "validate": {"required": True}},
        {"type": "textarea", "key": "reason", "validate": {"required": True},
         "conditional": {"hide": '=decision != "no"'}},
        {"type": "textfield", "key": "internal", "disabled": True},
    )
    assert schema.clean({"decision": "yes", "reason": "ignored", "internal": "x"}, initial={}, options={}) == {
        "decision": "yes"}
    assert errors(schema, {"decision": "no"}) == {"reason": ["请填写reason"]}
    assert schema.clean({"decision": "no", "reason": "价格太高"}, initial={}, options={}) == {
        "decision": "no", "reason": "价格太高"}


def test_read_only_and_computed_values_come_from_the_server():
    schema = form(
        {"type": "number", "key": "amount", "readonly": True},
        {"type": "number", "key": "discount", "validate": {"min": 0, "max": 100}, "decimalDigits": 2},
        {"type": "expression", "key": "net", "expression": "=amount * (100 - discount) / 100"},
    )
    cleaned = schema.clean({"amount": 1, "discount": 10, "net": 999999}, initial={"amount": 5000}, options={})
    assert cleaned == {"amount": 5000, "discount": 10, "net": 4500}
    assert errors(schema, {"discount": 100.5}, initial={"amount": 1}) == {"discount": ["不能大于 100"]}
    assert errors(schema, {"discount": 1.234}, initial={"amount": 1}) == {"discount": ["最多 2 位小数"]}
    assert errors(schema, {"discount": "1e400"}, initial={"amount": 1}) == {"discount": ["数值超出范围"]}
    assert errors(schema, {"discount": "abc"}, initial={"amount": 1}) == {"discount": ["应为数字"]}


def test_text_rules_patterns_and_types():
    schema = form(
        {"type": "textfield", "key": "phone",
         "validate": {"pattern": "^1\\d{10}$", "patternErrorMessage": "手机号不正确"}},
        {"type": "textfield", "key": "mail", "validate": {"validationType": "email"}},
        {"type": "checkbox", "key": "agree"},
        {"type": "checklist", "key": "tags", "values": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]},
    )
    assert schema.clean({"phone": "13800138000", "mail": "a@b.cn", "agree": True, "tags": ["a"]}, initial={},
                        options={}) == {"phone": "13800138000", "mail": "a@b.cn", "agree": True, "tags": ["a"]}
    assert errors(schema, {"phone": "123", "mail": "x", "agree": "yes", "tags": ["c"]}) == {
        "phone": ["手机号不正确"], "mail": ["邮箱格式不正确"], "agree": ["应为是或否"], "tags": ["请从列表中选择"]}
    assert errors(schema, {"phone": {"$gt": ""}}) == {"phone": ["应为文本"]}


def test_a_catastrophic_pattern_is_stopped_not_waited_for():
    schema = form({"type": "textfield", "key": "x", "validate": {"pattern": "^(a+)+$"}})
    assert errors(schema, {"x": "a" * 40 + "!"}) == {"x": ["格式不正确"]}


def test_submissions_are_bounded():
    schema = form({"type": "textarea", "key": "x"})
    assert errors(schema, {"x": "y" * 300_000}) == {"data": ["提交的内容过大"]}
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert errors(schema, {"x": nested}) == {"data": ["内容无法识别"]}
    assert errors(schema, [1]) == {"data": ["应为对象"]}


@pytest.mark.parametrize(("component", "problem"), [
    ({"type": "filepicker", "key": "f"}, "file uploads"),
    ({"type": "iframe", "url": "https://example.com"}, "not allowed"),
    ({"type": "slider", "key": "s"}, "unknown component type"),
    ({"type": "textfield", "key": "_secret"}, "not a valid key"),
    ({"type": "textfield", "key": "len"}, "reserved name"),
    ({"type": "textfield"}, "needs a 'key'"),
    ({"type": "textfield", "key": "a", "conditional": {"hide": "=system(1)"}}, "not available"),
    ({"type": "textfield", "key": "a", "validate": {"pattern": "("}}, "does not compile"),
    ({"type": "select", "key": "a", "valuesKey": "options.everyone"}, "no option source"),
    ({"type": "select", "key": "a", "valuesKey": "users"}, "must name an option source"),
    ({"type": "select", "key": "a", "valuesExpression": "=items"}, "not supported"),
    ({"type": "select", "key": "a"}, "needs a list of values"),
    ({"type": "expression", "key": "a", "expression": "=a +"}, "expression"),
    ({"type": "textfield", "key": "a", "readonly": "yes"}, "'readonly' must be"),
])
def test_definitions_that_cannot_be_enforced_are_refused(component, problem):
    with pytest.raises(FormInvalid) as caught:
        form(component)
    assert any(problem in message for message in caught.value.problems), caught.value.problems


def test_every_problem_is_listed_and_keys_are_unique():
    with pytest.raises(FormInvalid) as caught:
        form({"type": "textfield", "key": "a"}, {"type": "number", "key": "a"}, {"type": "bogus"})
    assert len(caught.value.problems) == 2 and "used by two fields" in caught.value.problems[0]


def test_parametrised_option_sources_and_reads():
    schema = form({"type": "select", "key": "kind", "valuesKey": "options.dictionary.服务类型"},
                  {"type": "text", "text": "x", "conditional": {"hide": "=customer.level = \"VIP\""}})
    assert schema.option_keys() == {"options.dictionary.服务类型"}
    assert schema.reads() == {"kind", "customer"}
