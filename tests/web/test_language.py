"""The interface language is the user's: kept with him across sign-ins and browsers, never passed to the next user."""
from __future__ import annotations

from bpm_crm.extensions import db
from bpm_crm.services.demo import DEMO_PASSWORD

from .helpers import page_text


def test_the_chosen_language_is_kept_for_the_next_sign_in(app, login, users):
    browser = login("manager1")
    browser.post("/language", data={"locale": "en", "next": "/"})
    db.session.refresh(users["manager1"])
    assert users["manager1"].locale == "en"
    browser.post("/logout")

    elsewhere = login("manager1")  # another browser: no session of its own yet
    page = page_text(elsewhere.get("/"))
    assert '<html lang="en">' in page and "Inbox" in page


def test_a_language_picked_on_the_sign_in_page_becomes_the_users(app, client, users):
    client.post("/language", data={"locale": "en", "next": "/login"})
    client.post("/login", data={"username": "manager2", "password": DEMO_PASSWORD})
    db.session.refresh(users["manager2"])
    assert users["manager2"].locale == "en"
    assert '<html lang="en">' in page_text(client.get("/"))


def test_the_next_user_of_the_browser_gets_his_own_language(app, login, client, users):
    users["manager1"].locale = "en"
    db.session.commit()
    client.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD})
    assert '<html lang="en">' in page_text(client.get("/"))
    client.post("/logout")
    client.post("/login", data={"username": "manager2", "password": DEMO_PASSWORD})
    assert '<html lang="zh-CN">' in page_text(client.get("/"))
    db.session.refresh(users["manager2"])
    assert users["manager2"].locale is None


def test_an_unknown_language_changes_nothing(login, users):
    browser = login("manager1")
    browser.post("/language", data={"locale": "fr", "next": "/"})
    db.session.refresh(users["manager1"])
    assert users["manager1"].locale is None
