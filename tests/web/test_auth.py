"""Signing in and out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bpm_crm import clock, config, create_app
from bpm_crm.extensions import db
from bpm_crm.models import LoginEvent
from bpm_crm.services.demo import DEMO_PASSWORD
from tests.conftest import config_for

from .conftest import PageClient
from .helpers import page_text

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_pages_need_a_login_and_come_back_after_it(client):
    response = client.get("/opportunities/?q=abc")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")

    form = client.get(response.headers["Location"])
    assert form.status_code == 200
    assert 'name="next"' in page_text(form) and "/opportunities/?q=abc" in page_text(form)

    signed_in = client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD,
                                            "next": "/opportunities/?q=abc"})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/opportunities/?q=abc"
    home = client.get("/")
    assert home.status_code == 200 and "李明" in page_text(home) and "销售一部" in page_text(home)


def test_wrong_password_is_refused(client):
    response = client.post("/login", data={"username": "manager1", "password": "wrong-password"})
    assert response.status_code == 401
    assert "用户名或密码错误" in page_text(response)
    assert client.get("/").status_code == 302


def test_next_never_leaves_the_site(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD, "next": target})
        assert response.headers["Location"] == "/"
        client.post("/logout")


def test_logout(login):
    browser = login("manager1")
    response = browser.post("/logout", follow_redirects=True)
    assert "您已安全退出" in page_text(response)
    assert browser.get("/").status_code == 302


def test_five_wrong_passwords_lock_the_name_and_the_page_says_for_how_long(client):
    clock.freeze(START)
    for _ in range(5):
        assert client.post("/login", data={"username": "manager1", "password": "wrong-password"}).status_code == 401
    response = client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD})
    assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    assert "登录失败次数过多，请在 15 分钟后再试" in page_text(response) and 'id="login-submit"' in page_text(response)
    assert client.get("/").status_code == 302
    event = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id.desc())).first()
    assert event is not None and (event.success, event.channel) == (False, "web")
    assert event.reason == "尝试过多，用户名已锁定"
    clock.advance(timedelta(minutes=15))
    assert client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD}).status_code == 302


def test_unknown_and_known_names_get_the_same_answer(client):
    answers = [client.post("/login", data={"username": name, "password": "wrong-password"})
               for name in ("manager1", "nobody")]
    assert [a.status_code for a in answers] == [401, 401]
    assert all("用户名或密码错误" in page_text(a) for a in answers)


def remembered(app: Flask) -> FlaskClient:
    """A browser holding only the remember-me cookie of manager1 (its session is gone)."""
    app.test_client_class = PageClient
    first = app.test_client()
    first.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD, "remember": "y"})
    cookie = first.get_cookie("remember_token")
    assert cookie is not None
    browser = app.test_client()
    browser.set_cookie("remember_token", cookie.value)
    assert browser.get("/").status_code == 200
    return browser


def test_the_account_page_changes_the_password_with_field_errors(login):
    browser = login("manager1")
    page = browser.get("/account")
    assert page.status_code == 200 and 'id="password-form"' in page_text(page) and "李明" in page_text(page)
    wrong = browser.post("/account", data={"current_password": "not-it-at-all", "password": "another-secret-1",
                                           "confirm": "another-secret-1"})
    assert wrong.status_code == 422 and 'data-field-error="current_password"' in page_text(wrong)
    assert "当前密码不正确" in page_text(wrong)
    mismatch = browser.post("/account", data={"current_password": DEMO_PASSWORD, "password": "another-secret-1",
                                              "confirm": "another-secret-2"})
    assert mismatch.status_code == 422 and "两次输入的密码不一致" in page_text(mismatch)
    short = browser.post("/account", data={"current_password": DEMO_PASSWORD, "password": "short", "confirm": "short"})
    assert short.status_code == 422 and 'data-field-error="password"' in page_text(short)
    english = login("manager1")
    english.post("/language", data={"locale": "en", "next": "/account"})
    page = english.post("/account", data={"current_password": "not-it-at-all", "password": "another-secret-1",
                                          "confirm": "another-secret-1"})
    assert "The current password is not correct" in page_text(page) and "Change password" in page_text(page)


def test_changing_the_password_signs_out_everywhere_else(app, login, client):
    other = login("manager1")
    cookie_only = remembered(app)
    token = client.post("/api/v1/auth/token", json={"username": "manager1", "password": DEMO_PASSWORD}).json["token"]
    browser = login("manager1")
    response = browser.post("/account", data={"current_password": DEMO_PASSWORD, "password": "another-secret-1",
                                              "confirm": "another-secret-1"}, follow_redirects=True)
    assert response.status_code == 200 and "密码已修改" in page_text(response)
    assert browser.get("/").status_code == 200  # this browser stays signed in
    assert other.get("/").status_code == 302 and cookie_only.get("/").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_remembered_browser_keeps_remember_me_after_its_own_change(app):
    browser = remembered(app)
    response = browser.post("/account", data={"current_password": DEMO_PASSWORD, "password": "another-secret-1",
                                              "confirm": "another-secret-1"})
    assert response.status_code == 302
    renewed = browser.get_cookie("remember_token")
    assert renewed is not None
    later = app.test_client()
    later.set_cookie("remember_token", renewed.value)
    assert later.get("/").status_code == 200


@pytest.mark.parametrize("action", ["reset", "deactivate"])
def test_a_reset_or_deactivation_by_the_admin_ends_sessions_and_remember_me(app, login, users, action):
    signed_in = login("manager2")
    admin = login("admin")
    target = users["manager2"].id
    if action == "reset":
        response = admin.post(f"/admin/users/{target}/password",
                              data={"password": "new-password-1", "confirm": "new-password-1"})
    else:
        response = admin.post(f"/admin/users/{target}/deactivate")
    assert response.status_code == 302
    assert signed_in.get("/").status_code == 302
    if action == "deactivate":  # reactivating does not bring the old session back
        assert admin.post(f"/admin/users/{target}/activate").status_code == 302
        assert signed_in.get("/").status_code == 302
    assert admin.get("/").status_code == 200


def test_the_account_page_revokes_all_api_tokens(login, client):
    tokens = [client.post("/api/v1/auth/token", json={"username": "manager1", "password": DEMO_PASSWORD}).json["token"]
              for _ in range(2)]
    browser = login("manager1")
    assert '<strong id="api-token-count">2</strong>' in page_text(browser.get("/account"))
    response = browser.post("/account/api-tokens/revoke", follow_redirects=True)
    assert "已撤销 2 个 API 令牌" in page_text(response)
    assert '<strong id="api-token-count">0</strong>' in page_text(response)
    for token in tokens:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert browser.get("/").status_code == 200


def test_the_account_page_needs_a_login(client):
    assert client.get("/account").headers["Location"].startswith("/login?next=")
    assert client.post("/account/api-tokens/revoke").status_code == 302


@pytest.mark.commits  # a second app signs in on its own connection
def test_cookies_are_http_only_same_site_and_secure_when_configured(app, database_urls):
    app.test_client_class = PageClient
    browser = app.test_client()
    response = browser.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD, "remember": "y"})
    cookies = {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name] and "Secure" not in cookies[name]

    db.session.remove()  # SQLite: leave the write lock to the second app
    secure = create_app(config_for(database_urls["sqlite"], SECURE_COOKIES=True))
    with secure.app_context():
        response = secure.test_client().post("/login", data={"username": "manager1", "password": DEMO_PASSWORD,
                                                             "remember": "y"})
        db.session.remove()
    cookies = {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}
    assert all("Secure" in cookies[name] for name in ("session", "remember_token"))


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("on", True), ("", False), ("0", False),
                                           ("no", False)])
def test_secure_cookies_setting_reads_the_environment(monkeypatch, value, on):
    monkeypatch.setenv("BPM_CRM_SECURE_COOKIES", value)
    assert config._flag("BPM_CRM_SECURE_COOKIES") is on
