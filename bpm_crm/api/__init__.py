"""JSON API under /api/v1: bearer-token auth, the same services and scopes as the pages."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

from bpm_crm.extensions import csrf

MAX_ID = 2**31 - 1

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as reachable without a token (everything else requires one)."""
    view.public = True  # type: ignore[attr-defined]
    return view


class IdConverter(BaseConverter):
    """A record id in a URL; one too large for the integer columns becomes 0, which matches nothing."""

    regex = r"\d{1,30}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


# Modules that attach their routes to `bp` when imported.
API_MODULES = (
    "auth", "errors", "openapi", "opportunities", "tasks", "process_instances", "customers",
    "contacts", "interactions", "care", "churn", "products", "orders", "levels", "quotes", "service_requests",
    "attachments", "imports", "admin", "recycle",
)


def register(app: Flask) -> None:
    """Attach the API blueprint; it authenticates by token, so it is exempt from CSRF."""
    import importlib
    import importlib.util

    for name in API_MODULES:
        if importlib.util.find_spec(f"bpm_crm.api.{name}") is not None:
            importlib.import_module(f"bpm_crm.api.{name}")
    app.url_map.converters["id"] = IdConverter
    csrf.exempt(bp)
    app.register_blueprint(bp)
