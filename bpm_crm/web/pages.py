"""What page handlers share: the signed-in user, a form page, and what a button asks for."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.models import User

T = TypeVar("T")


def signed_in() -> User:
    """The signed-in user: the row itself, not Flask-Login's proxy (services compare and keep it)."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def apply_errors(form: FlaskForm, exc: DomainError, *, message: bool = True) -> None:
    """Show a service's refusal on a form page: the message on top (unless `message` is off), its field errors
    under the fields."""
    if message:
        flash(translate(exc), "danger")
    if isinstance(exc, Invalid):
        for name, messages in exc.field_errors.items():
            if name in form:
                form[name].errors = list(form[name].errors) + [translate(m) for m in messages]


def form_view(form: FlaskForm, template: str, *, save: Callable[[], T], done: Callable[[T], ResponseReturnValue],
              **context: Any) -> ResponseReturnValue:
    """A form page: shown as it is; a valid post goes to `save` and its result to `done` (a message and a redirect).

    A refusal of the service is shown on the form with its status (its field errors under the fields), a post the
    form itself rejects is a 422.
    """
    status = 200
    if form.validate_on_submit():
        try:
            result = save()
        except DomainError as exc:
            apply_errors(form, exc)
            status = exc.status
        else:
            return done(result)
    elif form.errors:
        status = 422
    return render_template(template, form=form, **context), status


def refusal_text(exc: DomainError) -> str:
    """A refusal in one line: its message, then what it says of each field (for a page with no form to show
    them under)."""
    messages = [translate(exc)]
    if isinstance(exc, Invalid):
        messages += [translate(m) for values in exc.field_errors.values() for m in values]
    return "；".join(dict.fromkeys(messages))


def redirect_after(message: str, url: str) -> Response:
    """What a page does once the service did what was asked: say so, and show the next page."""
    flash(message, "success")
    return redirect(url)


def act(action: Callable[[], T], *, success: str | Callable[[T], str] | None = None,
        missing: str | None = None) -> bool:
    """Do what a button asks (a post without a form page of its own): True when the service did it and `success`
    (a text, or one made from what the service returned) is flashed; False when it refused, its reason flashed
    (a conflict as a warning). A record that is not there (or not visible) stays a 404 page — unless `missing`
    says what to tell instead (settings everyone who may act sees, pressed on a page older than their removal:
    nothing is hidden by saying they are gone)."""
    try:
        result = action()
    except DomainError as exc:
        if exc.status == 404 and missing is not None:
            flash(missing, "warning")
            return False
        if exc.status == 404:
            raise
        flash(refusal_text(exc), "warning" if exc.status == 409 else "danger")
        return False
    if success is not None:
        flash(success if isinstance(success, str) else success(result), "success")
    return True
