"""A lost session keeps the form: sign in again and the page comes back with what was typed.

A page's form that arrives without a live session, or with a CSRF token the session no longer
knows, is not refused with an error page: its fields are kept for the user who typed them (known
from the stale session or from a signed "last user" cookie set at sign-in), the browser goes to the
sign-in page with the form's page as `next`, and that page shows the fields filled in again, once.
Passwords and tokens are never kept, nothing goes into a URL, and no other user gets them.
"""
from __future__ import annotations

import json
from typing import Any

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from bpm_crm.services import kept_forms
from bpm_crm.web.pages import signed_in
from bpm_crm.web.redirects import gettable_path, safe_next

LAST_USER_COOKIE = "bpm_crm_last_user"
LAST_USER_DAYS = 30
KEPT_KEY = "kept_form"
# Posts that keep nothing: signing in or out, switching the language.
NOT_KEPT_ENDPOINTS = {"auth.login", "auth.logout", "language.switch"}


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="bpm-crm-last-user")


def remember_user(response: Response, user_id: int) -> Response:
    """Name the user who signs in on this browser, so a form he sends after his session ran out stays his."""
    response.set_cookie(LAST_USER_COOKIE, _signer().dumps(user_id), max_age=LAST_USER_DAYS * 86400,
                        httponly=True, samesite="Lax", secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


def forget_user(response: Response) -> Response:
    """Signing out on purpose leaves nothing to come back to."""
    response.delete_cookie(LAST_USER_COOKIE, httponly=True, samesite="Lax")
    return response


def _owner() -> int | None:
    """Who typed the form: the signed-in user, the user of a session that has just ended, or the last one here."""
    if current_user.is_authenticated:
        return int(current_user.id)
    stale, _sep, _stamp = str(session.get("_user_id") or "").partition(":")
    if stale.isascii() and stale.isdigit():
        return int(stale)
    try:
        value = _signer().loads(request.cookies.get(LAST_USER_COOKIE, ""), max_age=LAST_USER_DAYS * 86400)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None



def return_page() -> str:
    """The page a posted form came from: its own address when that is a page, else the referring page."""
    return gettable_path(request.path) or gettable_path(request.referrer) or url_for("inbox.index")


def _keep(page: str) -> bool:
    if request.endpoint in NOT_KEPT_ENDPOINTS or request.path.startswith("/api/"):
        return False
    owner = _owner()
    if owner is None:
        return False
    if any("password" in name.lower() for name in request.form):
        return False  # a form with a password (and its confirmation) is typed again, never kept
    fields = [(name, value) for name, value in request.form.items(multi=True) if name != "csrf_token"]
    kept_id = kept_forms.keep(user_id=owner, page=page, action=request.path, fields=fields)
    if kept_id is None:
        return False
    session[KEPT_KEY] = {"id": kept_id, "page": page, "user": owner}
    return True


def settle_at_sign_in(user_id: int) -> None:
    """Someone else signing in on this browser: what the previous user kept is dropped, not handed over."""
    kept = session.get(KEPT_KEY)
    if isinstance(kept, dict) and kept.get("user") != user_id:
        session.pop(KEPT_KEY, None)
        if isinstance(kept.get("id"), int):
            kept_forms.discard(kept_id=kept["id"])


def lost_session(*, signed_out: bool) -> Response:
    """The answer to a page's form sent without a live session or a valid CSRF token: keep it, then sign in."""
    page = return_page()
    kept = request.method == "POST" and _keep(page)
    if signed_out:
        flash(gettext("登录已过期，请重新登录；您填写的内容已保留，登录后自动填回") if kept
              else gettext("登录已过期，请重新登录"), "warning")
        return redirect(url_for("auth.login", next=page))
    flash(gettext("页面已过期，已为您填回刚才填写的内容，请检查后重新提交") if kept
          else gettext("页面已过期，请重新提交"), "warning")
    return redirect(page)


def unauthorized() -> Response:
    """Flask-Login's answer to a signed-out request: the sign-in page, keeping a posted form."""
    if request.method == "POST":
        return lost_session(signed_out=True)
    flash(gettext("请先登录"), "warning")
    return redirect(url_for("auth.login", next=safe_next(request.full_path.rstrip("?"))))


def restore() -> None:
    """Before a page: hand back the form its user kept, once, when he opens the page it belongs to."""
    g.pop("kept_form", None)  # tests share one app context between requests
    if request.method != "GET" or request.endpoint in ("static", "vendor.asset"):
        return  # files: reading the session would make them vary by cookie
    kept = session.get(KEPT_KEY)
    if not isinstance(kept, dict) or not current_user.is_authenticated:
        return
    page = request.full_path.rstrip("?")
    if kept.get("page") != page or not isinstance(kept.get("id"), int):
        return  # the sign-in page, or elsewhere first: the form waits for its own page (for minutes)
    session.pop(KEPT_KEY, None)
    row = kept_forms.take(kept_id=kept["id"], user=signed_in(), page=page)
    if row is not None:
        g.kept_form = {"action": row.action, "fields": row.fields}
        flash(gettext("已填回您刚才填写的内容，请检查后提交"), "info")


def kept_form() -> dict[str, Any] | None:
    """The form handed back on this page: where it was sent and its fields ([name, value] pairs)."""
    return g.get("kept_form")


def kept_values(action: str) -> dict[str, Any]:
    """The kept fields of a form sent to `action`, by name (the last value of a repeated name)."""
    kept = kept_form()
    if kept is None or kept["action"] != action:
        return {}
    return {name: value for name, value in kept["fields"]}


def kept_json(action: str, name: str) -> Any:
    """A kept field holding JSON (a task form's data), parsed; None when absent or unreadable."""
    raw = kept_values(action).get(name)
    try:
        return json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        return None
