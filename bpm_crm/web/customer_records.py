"""What the pages of a customer's records share: the customer from the address, the customer select, the way back."""
from __future__ import annotations

from flask import current_app, url_for
from flask_wtf import FlaskForm

from bpm_crm.i18n import _
from bpm_crm.models import Customer
from bpm_crm.services import customer_records
from bpm_crm.web.pages import signed_in
from bpm_crm.web.query_args import id_arg


def filtered_customer(customer_id: int | None) -> Customer | None:
    """The customer a list is narrowed to (404 when the user may not read him), or None."""
    if customer_id is None:
        return None
    return customer_records.readable_customer(user=signed_in(), customer_id=customer_id)


def locked_customer(*, action: str, refused: str) -> Customer | None:
    """The customer a new record's page was opened from (?customer_id=…), or None.

    `refused` (403) when the user may read him but not add such records to him; 404 when he may not read him.
    """
    customer_id = id_arg("customer_id")
    if customer_id is None:
        return None
    return customer_records.customer_for_new_record(user=signed_in(), customer_id=customer_id, action=action,
                                                    refused=refused)


def new_record_customer(form: FlaskForm, *, action: str, locked: Customer | None) -> None:
    """The customer select of a new record: the customers the user may add to; fixed to `locked` when opened
    from a customer (a posted value cannot move the record elsewhere)."""
    fill_customer_choices(form, action=action, selected=locked.id if locked else None)
    if locked is not None:
        form["customer_id"].data = locked.id


def fill_customer_choices(form: FlaskForm, *, action: str, selected: int | None) -> None:
    """The customer select: a blank prompt, then the customers the user may add records to."""
    choices = customer_records.customer_choices(user=signed_in(), action=action, include_id=selected)
    form["customer_id"].choices = [("", str(_("请选择客户")))] + choices


def back_to_customer(customer_id: int, fallback: str) -> str:
    """The customer page when this app has one, else `fallback` (the record's own page or list)."""
    if "customers.show" in current_app.view_functions:
        return url_for("customers.show", customer_id=customer_id)
    return fallback


def after_create(locked: Customer | None, shown: str) -> str:
    """Where a new record's page goes once it is saved: back to the customer it was opened from, else `shown`."""
    return back_to_customer(locked.id, shown) if locked is not None else shown


def yes_no(value: bool) -> str:
    return str(_("是")) if value else str(_("否"))
