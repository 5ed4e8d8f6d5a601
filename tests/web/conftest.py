"""Page fixtures: SQLite only, a client per demo user, helpers to drive the opportunity process."""
from __future__ import annotations

from collections.abc import Callable

import flask_babel
import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from bpm_crm.models import Opportunity
from bpm_crm.services import opportunities
from bpm_crm.services.demo import DEMO_PASSWORD

from .helpers import VALUES


@pytest.fixture
def backend() -> str:
    """Pages are the same on every database; the persistence suites cover PostgreSQL."""
    return "sqlite"


class PageClient(FlaskClient):
    """A test client that drops what the shared app context caches per request (user, locale)."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        flask_babel.refresh()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = PageClient
    return app.test_client()


@pytest.fixture
def login(app: Flask) -> Callable[[str], FlaskClient]:
    """A client signed in as a demo user through the login form."""

    def sign_in(username: str) -> FlaskClient:
        app.test_client_class = PageClient
        browser = app.test_client()
        response = browser.post("/login", data={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser

    return sign_in


@pytest.fixture
def new_opportunity(users) -> Callable[..., Opportunity]:
    """An opportunity created through the service (its process started)."""

    def create(username: str = "manager1", **changes: object) -> Opportunity:
        return opportunities.create_opportunity(user=users[username], values={**VALUES, **changes})

    return create
