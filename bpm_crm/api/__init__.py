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
    "attachments", "imports", "admin", "recycle", "approvals", "decisions", "notifications",
)


def register(app: Flask) -> None:
    """Attach the API blueprint; it authenticates by token, so it is exempt from CSRF."""
    import importlib
    import importlib.util

    for name in API_MODULES:
        if importlib.util.find_spec(f"bpm_crm.api.{name}") is not None:
            importlib.import_module(f"bpm_crm.api.{name}")
    _record_shapes()
    csrf.exempt(bp)
    app.register_blueprint(bp)


def _record_shapes() -> None:
    """Give each registered record type its API shape, used wherever a task or instance shows its record."""
    from bpm_crm.api import care, churn, contacts, customers, interactions, quotes, schemas, service_requests
    from bpm_crm.services.records import RECORDS

    shapes: dict[str, Callable[[Any], dict[str, Any]]] = {
        "opportunity": schemas.opportunity_detail, "customer": customers.customer, "quote": quotes.quote_detail,
        "service_request": service_requests.service_request, "churn_warning": churn.warning,
        "care_task": care.care_task, "contact": contacts.contact, "interaction": interactions.interaction,
    }
    for key, shape in shapes.items():
        RECORDS.set_serializer(key, shape)
