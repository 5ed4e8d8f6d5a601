"""HTML pages: one blueprint per module, attached to the app here."""
from __future__ import annotations

from flask import Flask

from bpm_crm.extensions import login_manager
from bpm_crm.i18n import _
from bpm_crm.services import people


@login_manager.user_loader
def _load_user(user_id: str):
    user = people.get_user(int(user_id))
    return user if user is not None and user.active else None


# Page modules, each with a blueprint `bp` of the same name.
PAGE_MODULES = (
    "auth", "language", "inbox", "tasks", "opportunities", "customers", "instances", "vendor",
    "contacts", "interactions", "care", "churn", "products", "orders", "levels", "quotes", "service",
    "attachments", "imports", "admin", "recycle",
)


def register(app: Flask) -> None:
    """Attach the page blueprints, the template helpers and the error pages."""
    import importlib
    import importlib.util

    from bpm_crm.web import display, errors

    login_manager.login_view = "auth.login"
    login_manager.login_message = _("请先登录")
    login_manager.login_message_category = "warning"
    for name in PAGE_MODULES:
        if importlib.util.find_spec(f"bpm_crm.web.{name}") is None:
            continue
        app.register_blueprint(importlib.import_module(f"bpm_crm.web.{name}").bp)
    display.init_app(app)
    errors.register_error_handlers(app)
