"""A lost session keeps the form: sign in again and the page comes back filled in, for the same user only."""
from __future__ import annotations

import html
import json
import re

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import KeptForm, Opportunity
from bpm_crm.services.demo import DEMO_PASSWORD

from .helpers import VALUES, page_text


def kept_fields(page: str) -> dict[str, str] | None:
    """The fields the page hands back to its form, or None."""
    match = re.search(r'<script type="application/json" id="kept-form">(.*?)</script>', page, re.S)
    return {name: value for name, value in json.loads(html.unescape(match.group(1)))["fields"]} if match else None


def lose_session(browser) -> None:
    browser.delete_cookie("session")


def sign_in(browser, username: str, next_page: str):
    return browser.post("/login", data={"username": username, "password": DEMO_PASSWORD, "next": next_page})


def test_signing_in_again_brings_the_typed_form_back(login):
    browser = login("manager1")
    lose_session(browser)
    sent = browser.post("/opportunities/new", data={**VALUES, "description": "预算约30万，三个月内上线"})
    assert sent.status_code == 302 and sent.headers["Location"] == "/login?next=/opportunities/new"
    assert "您填写的内容已保留" in page_text(browser.get("/login?next=/opportunities/new"))
    assert db.session.scalar(select(func.count()).select_from(Opportunity)) == 0

    back = sign_in(browser, "manager1", "/opportunities/new")
    assert back.headers["Location"] == "/opportunities/new"
    page = page_text(browser.get("/opportunities/new"))
    fields = kept_fields(page)
    assert fields["customer_name"] == VALUES["customer_name"] and fields["description"] == "预算约30万，三个月内上线"
    assert "csrf_token" not in fields and "已填回您刚才填写的内容" in page
    assert kept_fields(page_text(browser.get("/opportunities/new"))) is None  # given back once
    assert db.session.scalar(select(func.count()).select_from(KeptForm)) == 0


def test_another_user_signing_in_gets_nothing(login):
    browser = login("manager1")
    lose_session(browser)
    browser.post("/opportunities/new", data=VALUES)
    sign_in(browser, "manager2", "/opportunities/new")
    assert kept_fields(page_text(browser.get("/opportunities/new"))) is None
    assert db.session.scalar(select(func.count()).select_from(KeptForm)) == 0


def test_nothing_is_kept_for_an_unknown_browser(client):
    sent = client.post("/opportunities/new", data=VALUES)
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/login")
    assert db.session.scalar(select(func.count()).select_from(KeptForm)) == 0


def test_passwords_are_never_kept(login):
    browser = login("manager1")
    lose_session(browser)
    browser.post("/account", data={"current_password": "secret-1", "password": "secret-2", "confirm": "secret-2"})
    kept = db.session.scalar(select(KeptForm))
    assert kept is None or not any("secret" in value for _name, value in kept.fields)


def test_an_expired_csrf_token_returns_to_the_filled_form(app, login):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = login_with_csrf(app, login)
    sent = browser.post("/opportunities/new", data={**VALUES, "csrf_token": "expired"})
    assert sent.status_code == 302 and sent.headers["Location"] == "/opportunities/new"
    page = page_text(browser.get("/opportunities/new"))
    assert kept_fields(page)["summary"] == VALUES["summary"] and "页面已过期" in page


def test_a_task_form_comes_back_into_the_task_page(login, new_opportunity, users):
    from .helpers import open_task

    task = open_task(new_opportunity("manager1"), "assign")
    browser = login("supervisor1")
    lose_session(browser)
    draft = {"assignee_id": users["manager3"].id}
    sent = browser.post(f"/tasks/{task.id}/complete", data={"form_data": json.dumps(draft), "comment": "请跟进"},
                        headers={"Referer": f"http://localhost/tasks/{task.id}"})
    assert sent.headers["Location"] == f"/login?next=/tasks/{task.id}"
    sign_in(browser, "supervisor1", f"/tasks/{task.id}")
    page = page_text(browser.get(f"/tasks/{task.id}"))
    spec = json.loads(html.unescape(re.search(
        r'<script type="application/json" id="task-form-definition">(.*?)</script>', page, re.S).group(1)))
    assert spec["data"]["assignee_id"] == users["manager3"].id and "请跟进" in page


def login_with_csrf(app, login):
    """A client signed in through the real form, CSRF token and all."""
    browser = app.test_client()
    page = page_text(browser.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    browser.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD, "csrf_token": token.group(1)})
    return browser
