"""Switching the interface language (中文 / English): kept with the user, or in the session before signing in."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import refresh
from flask_login import current_user

from bpm_crm.models import User
from bpm_crm.services import people
from bpm_crm.web.pages import signed_in
from bpm_crm.web.redirects import gettable_path

bp = Blueprint("language", __name__)

CHOSEN_BEFORE_SIGN_IN = "locale_chosen"


def settle_at_sign_in(user: User) -> None:
    """A language picked on the sign-in page becomes the user's; else his own language applies here."""
    chosen = session.pop(CHOSEN_BEFORE_SIGN_IN, False)
    if chosen and session.get("locale") in current_app.config["LANGUAGES"]:
        people.set_locale(user=user, locale=session["locale"])
    elif user.locale:
        session["locale"] = user.locale
    else:  # not what the previous user of this browser picked
        session.pop("locale", None)
    refresh()



@bp.post("/language")
def switch():
    """Remember the chosen language and return to the page the user was on."""
    code = request.form.get("locale", "")
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            people.set_locale(user=signed_in(), locale=code)
        else:
            session[CHOSEN_BEFORE_SIGN_IN] = True  # signing in keeps it for the user
        refresh()
    back = gettable_path(request.form.get("next")) or gettable_path(request.referrer)
    return redirect(back or url_for("inbox.index"))
