"""Tokens: obtain, refuse, revoke, expire; the 401 contract; no cookie session, no CSRF."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import LoginEvent
from bpm_crm.services import admin

from .helpers import assert_error


def test_obtain_token_and_read_me(client):
    response = client.post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"})
    assert response.status_code == 201
    body = response.json
    assert body["token"] and body["token_type"] == "Bearer" and body["expires_at"].endswith("Z")
    assert body["user"]["username"] == "manager1" and body["user"]["roles"] == ["account_manager"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["username"] == "manager1" and me.json["department"] == "销售一部"
    assert me.json["permissions"]["opportunity.read"] == "own"
    assert "Set-Cookie" not in me.headers


@pytest.mark.parametrize("credentials", [
    {"username": "manager1", "password": "wrong-password"},
    {"username": "nobody", "password": "demo1234"},
])
def test_wrong_credentials_are_refused(client, credentials):
    assert_error(client.post("/api/v1/auth/token", json=credentials), 401)


def test_token_request_must_be_a_json_object_with_both_fields(client):
    assert_error(client.post("/api/v1/auth/token", data="username=manager1"), 400)
    assert_error(client.post("/api/v1/auth/token", data="{bad json", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/auth/token", json=["manager1", "demo1234"]), 400)
    error = assert_error(client.post("/api/v1/auth/token", json={"username": "manager1"}), 422)
    assert set(error["fields"]) == {"password"}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic bWFuYWdlcjE6ZGVtbzEyMzQ="])
def test_requests_without_a_valid_token_get_401(client, header):
    headers = {"Authorization": header} if header else {}
    for method, path in [("get", "/api/v1/me"), ("get", "/api/v1/opportunities"), ("post", "/api/v1/tasks/1/claim"),
                         ("delete", "/api/v1/opportunities/1"), ("get", "/api/v1/process-instances/1")]:
        response = getattr(client, method)(path, headers=headers)
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_cookie_session_does_not_authenticate(client, users):
    with client.session_transaction() as session:
        session["_user_id"] = str(users["admin"].id)
        session["_fresh"] = True
    assert_error(client.get("/api/v1/me"), 401)


def test_revoked_token_stops_working(client, auth):
    headers = auth("manager1")
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert_error(client.get("/api/v1/me", headers=headers), 401)


def test_token_expires_after_its_ttl(app, client, auth):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    headers = auth("manager1")
    ttl = timedelta(hours=app.config["API_TOKEN_TTL_HOURS"])
    clock.freeze(start + ttl - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.freeze(start + ttl + timedelta(seconds=1))
    response = client.get("/api/v1/me", headers=headers)
    assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_api_is_exempt_from_csrf(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"})
    assert response.status_code == 201


def test_thirty_wrong_passwords_are_throttled_after_five(client):
    clock.freeze(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    answers = [client.post("/api/v1/auth/token", json={"username": "manager1", "password": "wrong-password"})
               for _ in range(30)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 25
    right = client.post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"})
    error = assert_error(right, 429)
    assert error["code"] == "too_many_attempts" and "15" in error["message"]
    assert right.headers["Retry-After"] == "900"
    events = db.session.scalars(select(LoginEvent).where(LoginEvent.username == "manager1")).all()
    assert [e.reason for e in events].count("尝试过多，用户名已锁定") == 26 and {e.channel for e in events} == {"api"}
    clock.advance(timedelta(minutes=15))
    assert client.post("/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"}).status_code == 201


def test_one_address_guessing_many_names_is_throttled(client):
    clock.freeze(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    for index in range(20):
        assert client.post("/api/v1/auth/token", json={"username": f"user{index}", "password": "x"}).status_code == 401
    assert_error(client.post("/api/v1/auth/token", json={"username": "manager2", "password": "demo1234"}), 429)
    elsewhere = client.post("/api/v1/auth/token", json={"username": "manager2", "password": "demo1234"},
                            environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert elsewhere.status_code == 201


def test_a_user_revokes_all_his_tokens(client, auth):
    first = auth("manager1")
    second = {"Authorization": "Bearer " + client.post(
        "/api/v1/auth/token", json={"username": "manager1", "password": "demo1234"}).json["token"]}
    other = auth("manager2")
    assert client.delete("/api/v1/auth/tokens", headers=first).status_code == 204
    assert_error(client.get("/api/v1/me", headers=first), 401)
    assert_error(client.get("/api/v1/me", headers=second), 401)
    assert client.get("/api/v1/me", headers=other).status_code == 200
    assert_error(client.delete("/api/v1/auth/tokens"), 401)


def test_a_password_reset_ends_the_users_tokens(client, auth, users):
    headers = auth("manager2")
    admin.reset_password(user=users["admin"], user_id=users["manager2"].id, password="new-password-1")
    assert_error(client.get("/api/v1/me", headers=headers), 401)


def test_the_document_describes_throttling_and_revoking_all_tokens(client):
    document = client.get("/api/v1/openapi.json").json
    assert "429" in document["paths"]["/auth/token"]["post"]["responses"]
    assert "Retry-After" in document["components"]["responses"]["E429"]["headers"]
    assert document["paths"]["/auth/tokens"]["delete"]["responses"]["204"]
