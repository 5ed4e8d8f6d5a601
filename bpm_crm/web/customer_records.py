"""What the pages of a customer's records share: the customer select, field errors, the way back, exports."""
from __future__ import annotations

from typing import Any

from flask import flash, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.i18n import _
from bpm_crm.models import User
from bpm_crm.services import customer_records


def current() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def apply_errors(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal: the message on top, its field errors under the fields."""
    flash(translate(exc), "danger")
    if isinstance(exc, Invalid):
        for name, messages in exc.field_errors.items():
            if name in form:
                form[name].errors = list(form[name].errors) + [translate(m) for m in messages]


def fill_customer_choices(form: FlaskForm, *, action: str, selected: int | None) -> None:
    """The customer select: a blank prompt, then the customers the user may add records to."""
    choices = customer_records.customer_choices(user=current(), action=action, include_id=selected)
    form["customer_id"].choices = [("", str(_("请选择客户")))] + choices


def back_to_customer(customer_id: int, fallback: str, /, **values: Any) -> str:
    """The customer page when it exists, else the record page."""
    from flask import current_app

    if "customers.show" in current_app.view_functions:
        return url_for("customers.show", customer_id=customer_id)
    return url_for(fallback, **values)


def yes_no(value: bool) -> str:
    return str(_("是")) if value else str(_("否"))
