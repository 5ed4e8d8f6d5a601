"""HTML pages: one blueprint per module, attached to the app here."""
from __future__ import annotations

import secrets

from flask import Flask, Response, g

from bpm_crm.extensions import login_manager
from bpm_crm.i18n import _
from bpm_crm.models import User
from bpm_crm.services import people


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The user a session or remember-me cookie names, unless his session stamp has changed since."""
    return people.user_for_session(session_id)


# Page modules, each with a blueprint `bp` of the same name.
PAGE_MODULES = (
    "auth", "language", "inbox", "tasks", "approvals", "opportunities", "customers", "instances", "vendor",
    "contacts", "interactions", "care", "churn", "products", "orders", "levels", "quotes", "service",
    "attachments", "imports", "admin", "recycle", "notifications", "decisions", "schedules", "care_rules",
)

# Pages run only their own static scripts and inline <script> elements carrying this response's nonce;
# styles may be inline (a few templates set widths and indents in style attributes).
PAGE_POLICY = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
               "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
# Everything else (JSON, downloads, static files) is never a document that runs or loads anything.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"


def csp_nonce() -> str:
    """The nonce of this response's inline scripts (templates: <script nonce="{{ csp_nonce() }}">)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def _new_nonce() -> None:
    # Tests share one app context between requests, so `g` alone would keep one nonce for all of them.
    g.pop("csp_nonce", None)


def _security_headers(response: Response) -> Response:
    """No framing, no type sniffing, no referrer to other sites, and a Content-Security-Policy."""
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if "Content-Security-Policy" not in headers:
        page = response.mimetype == "text/html"
        headers["Content-Security-Policy"] = PAGE_POLICY.format(nonce=csp_nonce()) if page else OTHER_POLICY
    return response


def register(app: Flask) -> None:
    """Attach the page blueprints, the template helpers, the error pages and the security headers."""
    import importlib
    import importlib.util

    from bpm_crm.web import display, errors, kept_forms

    login_manager.login_view = "auth.login"
    login_manager.login_message = _("请先登录")
    login_manager.login_message_category = "warning"
    login_manager.unauthorized_handler(kept_forms.unauthorized)
    if app.config.get("SECURE_COOKIES"):
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = True
    for name in PAGE_MODULES:
        if importlib.util.find_spec(f"bpm_crm.web.{name}") is None:
            continue
        app.register_blueprint(importlib.import_module(f"bpm_crm.web.{name}").bp)
    display.init_app(app)
    errors.register_error_handlers(app)
    app.add_template_global(csp_nonce)
    app.add_template_global(kept_forms.kept_form)
    app.before_request(_new_nonce)
    app.before_request(kept_forms.restore)
    app.after_request(_security_headers)
