"""API fixtures: a test client and bearer-token headers for the demo users."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bpm_crm.services.demo import DEMO_PASSWORD

from .helpers import OPPORTUNITY


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(client: FlaskClient) -> Callable[[str], dict[str, str]]:
    """Bearer headers for a demo user, obtained through POST /api/v1/auth/token (cached per user)."""
    tokens: dict[str, str] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in tokens:
            response = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            assert response.status_code == 201, response.json
            tokens[username] = response.json["token"]
        return {"Authorization": f"Bearer {tokens[username]}"}

    return headers


@pytest.fixture
def create_opportunity(client: FlaskClient, auth) -> Callable[..., dict]:
    """Create an opportunity over the API as `username`; returns its JSON."""

    def create(username: str = "manager1", **changes: object) -> dict:
        response = client.post("/api/v1/opportunities", json={**OPPORTUNITY, **changes}, headers=auth(username))
        assert response.status_code == 201, response.json
        return response.json

    return create
