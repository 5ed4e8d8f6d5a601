"""Domain errors carry a code and parameters and are translated once, at the edge, for pages and API alike."""
from __future__ import annotations

import ast
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import flask_babel
import pytest
from babel.messages.pofile import read_po
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select

from bpm_crm.error_messages import translate
from bpm_crm.errors import Conflict, DomainError
from bpm_crm.extensions import db
from bpm_crm.models import Customer, HumanTask, Opportunity, TaskStatus
from bpm_crm.services import opportunities
from bpm_crm.services.demo import DEMO_PASSWORD

PACKAGE = Path(__file__).resolve().parents[1] / "bpm_crm"
OPPORTUNITY = {"source": "展会", "customer_name": "杭州测试科技有限公司", "probability": 60,
               "summary": "采购办公软件", "contact": "钱经理", "contact_phone": "13800138001",
               "description": "有意向更换办公系统"}
ORDERS = "订单号,客户编号,下单日期,状态,产品名称,数量,单价\nDD901,KH404,2026-01-05,已发货,办公软件,1,100\n"
TASK_DONE = "This task was already completed by 王主管"
LOCKED = "The opportunity is already Assigned and can no longer be changed or deleted"
NO_CUSTOMER = "Customer number KH404 does not exist"


@pytest.fixture
def backend() -> str:
    """Translation does not depend on the database."""
    return "sqlite"


class RefreshingClient(FlaskClient):
    """A test client that drops what the shared app context caches per request (user, locale)."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        flask_babel.refresh()
        return super().open(*args, **kwargs)


@pytest.fixture
def english_page(app: Flask) -> Callable[[str], FlaskClient]:
    """A browser signed in as a demo user who chose English."""

    def sign_in(username: str) -> FlaskClient:
        app.test_client_class = RefreshingClient
        browser = app.test_client()
        assert browser.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
        assert browser.post("/language", data={"locale": "en"}).status_code == 302
        return browser

    return sign_in


@pytest.fixture
def english_api(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, dict]]:
    """Call the API in English (an API client has no session: the configured default language applies)."""
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    app.test_client_class = RefreshingClient
    client = app.test_client()
    tokens: dict[str, str] = {}

    def call(method: str, path: str, username: str, **kwargs) -> tuple[int, dict]:
        if username not in tokens:
            issued = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            tokens[username] = issued.json["token"]
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[username]}"},
                               **kwargs)
        return response.status_code, response.json

    return call


def _open_task(opportunity: Opportunity, bpmn_id: str) -> HumanTask:
    db.session.expire_all()
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id,
                                                     HumanTask.bpmn_id == bpmn_id,
                                                     HumanTask.status == TaskStatus.OPEN))
    assert task is not None
    return task


def _assigned_opportunity(users, english_page) -> tuple[Opportunity, int]:
    """An opportunity of manager1 and its assignment step, which supervisor1 (王主管) has completed."""
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=OPPORTUNITY)
    task = _open_task(opportunity, "assign")
    done = english_page("supervisor1").post(f"/tasks/{task.id}/complete", data={"assignee_id": users["manager1"].id})
    assert done.status_code == 302
    return opportunity, task.id


@pytest.fixture
def customer(users) -> int:
    record = Customer(name="杭州云启科技", number="KH000001", owner_id=users["manager1"].id)
    db.session.add(record)
    db.session.commit()
    return record.id


def _upload(data: str) -> dict:
    return {"file": (io.BytesIO(data.encode()), "orders.csv")}


# (a) an error with parameters reads in English, with its values, on a page …

def test_a_completed_tasks_conflict_is_shown_in_english_on_the_page(users, english_page):
    _opportunity, task_id = _assigned_opportunity(users, english_page)
    again = english_page("supervisor1").post(f"/tasks/{task_id}/complete",
                                             data={"assignee_id": users["manager3"].id}, follow_redirects=True)
    assert TASK_DONE in again.get_data(as_text=True)


def test_an_opportunity_status_conflict_is_shown_in_english_on_the_page(users, english_page):
    opportunity, _task_id = _assigned_opportunity(users, english_page)
    response = english_page("manager1").post(f"/opportunities/{opportunity.id}/delete", follow_redirects=True)
    assert LOCKED in response.get_data(as_text=True)


def test_an_order_import_row_error_is_shown_in_english_on_the_page(customer, english_page):
    browser = english_page("director")
    page = browser.post("/orders/import", data=_upload(ORDERS), content_type="multipart/form-data")
    assert NO_CUSTOMER in page.get_data(as_text=True)


# … and in the API, whose body carries the code and the parameters (b)

def test_a_completed_tasks_conflict_in_the_api_has_english_text_code_and_params(users, english_page, english_api):
    _opportunity, task_id = _assigned_opportunity(users, english_page)
    status, body = english_api("POST", f"/api/v1/tasks/{task_id}/complete", "supervisor1",
                               json={"data": {"assignee_id": users["manager3"].id}})
    assert status == 409
    assert body["error"]["message"] == TASK_DONE
    assert body["error"]["code"] == "task_closed" and body["error"]["params"] == {"name": "王主管"}


def test_an_opportunity_status_conflict_in_the_api_has_english_text_code_and_params(users, english_page,
                                                                                    english_api):
    opportunity, _task_id = _assigned_opportunity(users, english_page)
    status, body = english_api("DELETE", f"/api/v1/opportunities/{opportunity.id}", "manager1")
    assert status == 409
    assert body["error"] == {"message": LOCKED, "fields": {}, "code": "opportunity_locked",
                             "params": {"status": "已指派"}}


def test_order_import_row_errors_in_the_api_are_english_with_code_and_params(customer, english_api):
    status, preview = english_api("POST", "/api/v1/orders/imports", "director", data=_upload(ORDERS),
                                  content_type="multipart/form-data")
    assert status == 201 and preview["errors"] == [{"row": 2, "messages": [NO_CUSTOMER]}]
    status, body = english_api("POST", f"/api/v1/orders/imports/{preview['job_id']}/commit", "director")
    assert status == 422
    error = body["error"]
    assert error["code"] == "order_import_rows_invalid" and error["params"] == {"count": 1}
    assert error["message"].startswith("1 rows have errors") and error["fields"] == {"row 2": [NO_CUSTOMER]}


def test_a_missing_column_is_named_in_english_with_code_and_params(customer, english_api):
    status, body = english_api("POST", "/api/v1/orders/imports", "director",
                               data=_upload("订单号,客户编号,下单日期,状态,产品名称,数量\nDD901,KH000001,2026-01-05,1,软件,1\n"),
                               content_type="multipart/form-data")
    assert status == 422
    assert body["error"]["code"] == "import_columns_missing" and body["error"]["params"] == {"columns": "“单价”"}
    assert body["error"]["message"] == "Missing columns: “单价”" == body["error"]["fields"]["file"][0]


# (c) no regular expressions: a message raised already filled in has no template to translate

def test_a_filled_in_message_without_a_template_is_shown_as_raised(app: Flask, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    with app.test_request_context():
        flask_babel.refresh()
        assert translate(Conflict("此任务已由%(name)s完成", name="王主管")) == TASK_DONE
        assert translate(Conflict("此任务已由王主管完成")) == "此任务已由王主管完成"
        assert translate("此任务已由王主管完成") == "此任务已由王主管完成"
        assert translate(Conflict("此任务已结束，无需再处理")) == "This task has ended; nothing more to do"
        assert translate(None) == "" and translate("") == ""


# (d) the rule stays true: no domain error is raised with a message formatted in place

def _domain_error_names(trees: dict[Path, ast.Module]) -> set[str]:
    names = {DomainError.__name__}
    while True:
        found = {node.name for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 and any(isinstance(base, ast.Name | ast.Attribute) and _name(base) in names for base in node.bases)}
        if found <= names:
            return names
        names |= found


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _formatted(node: ast.expr) -> bool:
    """An f-string, `"…" % values`, `"…".format(…)` or text joined with `+`."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _text(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) or _text(node.right) or _formatted(node.left) or _formatted(node.right)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _domain_error_calls() -> Iterator[tuple[str, ast.Call]]:
    trees = {path: ast.parse(path.read_text(), str(path)) for path in PACKAGE.rglob("*.py")}
    names = _domain_error_names(trees)
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in names and node.args:
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node


def _messages(call: ast.Call) -> list[ast.expr]:
    """The message of a domain error call and, where they are written out, Invalid's field messages."""
    messages = [call.args[0]]
    if len(call.args) > 1 and isinstance(call.args[1], ast.Dict):
        messages += [item for value in call.args[1].values if isinstance(value, ast.List) for item in value.elts]
    return messages


def test_no_domain_error_is_raised_with_a_message_formatted_in_place():
    offending = [f"{where}: {ast.unparse(message)}" for where, call in _domain_error_calls()
                 for message in _messages(call) if _formatted(message)]
    assert not offending, "pass the values as parameters: Conflict(\"…%(name)s…\", code=…, name=…)"


def test_the_scan_finds_the_domain_errors():
    calls = {ast.unparse(call.func) for _where, call in _domain_error_calls()}
    assert {"NotFound", "Forbidden", "Conflict", "Invalid", "ProcessFailed", "SpreadsheetError"} <= calls


def test_every_message_a_service_raises_as_written_has_an_english_translation():
    with (PACKAGE / "translations/en/LC_MESSAGES/messages.po").open("rb") as handle:
        translated = {m.id for m in read_po(handle) if m.id and m.string and "fuzzy" not in m.flags}
    missing = []
    for where, call in _domain_error_calls():
        if not where.startswith(("bpm_crm/services/", "bpm_crm/handlers/")):
            continue
        missing += [f"{where}: {m.value}" for m in _messages(call)
                    if isinstance(m, ast.Constant) and isinstance(m.value, str) and m.value not in translated]
    assert not missing, f"list these in bpm_crm/error_messages.py and translate them: {missing}"
