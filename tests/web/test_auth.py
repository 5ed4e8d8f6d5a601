"""Signing in and out."""
from __future__ import annotations

from bpm_crm.services.demo import DEMO_PASSWORD

from .helpers import page_text


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
