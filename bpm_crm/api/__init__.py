"""JSON API under /api/v1: bearer-token auth, the same services and scopes as the pages."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask

from bpm_crm.api.inputs import limit_body_size
from bpm_crm.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(limit_body_size)


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as reachable without a token (everything else requires one)."""
    view.public = True  # type: ignore[attr-defined]
    return view


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
    csrf.exempt(bp)
    app.register_blueprint(bp)
