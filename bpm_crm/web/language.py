"""Switching the interface language (中文 / English), kept in the session."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import refresh
from werkzeug.exceptions import HTTPException

from bpm_crm.web.redirects import same_site_path

bp = Blueprint("language", __name__)


def _return_path(target: str | None) -> str | None:
    """A page of this site that answers GET, from a path or a same-host URL; else None."""
    path = same_site_path(target, request.host)
    if path is None:
        return None
    try:
        current_app.url_map.bind(request.host).match(urlsplit(path).path, method="GET")
    except HTTPException:  # a POST-only address (a page re-rendered after a failed submit) or unknown
        return None
    return path


@bp.post("/language")
def switch():
    """Remember the chosen language and return to the page the user was on."""
    code = request.form.get("locale", "")
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        refresh()
    back = _return_path(request.form.get("next")) or _return_path(request.referrer)
    return redirect(back or url_for("inbox.index"))
