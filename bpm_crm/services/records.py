"""The business records processes run for, each declared once.

A declaration says what generic code needs to know about a record type: its model, label and
number prefix, how to load one for a user (with the permission check), who owns it (the data
scope of its processes), where its page is and which partial summarises it on a task page, what
happens to it when its process's work moves to someone else, who may change it (and so attach
files to it) and which rows go to the recycle bin with it. The workflow services, the task and
instance pages, attachments, the audit log (its record types and their labels), the recycle bin
and the API read these declarations instead of naming record types; adding a record type is one
more declaration.
The API attaches each type's JSON shape beside its routes (`set_serializer`).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import LazyString

from bpm_crm.errors import NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import (
    CareTask,
    ChurnMeasure,
    ChurnWarning,
    Contact,
    Customer,
    CustomerShare,
    CustomerTransfer,
    Interaction,
    Opportunity,
    Order,
    OrderLine,
    Quote,
    QuoteLine,
    ServiceRequest,
    User,
)
from bpm_crm.services import permissions


@dataclass(frozen=True)
class Dependant:
    """Rows of `model` whose `column` holds the parent's id: they go to the recycle bin with the parent."""

    model: type
    column: str
    # Its own dependants, for a model that is not a declared record type (a declared one brings its own).
    dependants: tuple[Dependant, ...] = ()


@dataclass
class RecordType:
    """What generic code knows about one kind of business record."""

    key: str
    model: type
    label: LazyString
    load: Callable[[int, User], Any]  # with the user's permission check; NotFound otherwise
    owner_id: Callable[[Any], int | None]  # whose scope its processes' tasks fall in
    title: Callable[[Any], str]
    endpoint: str | None = None  # the record's page
    id_arg: str = "record_id"
    number_prefix: str | None = None
    summary_template: str | None = None  # the partial summarising it on task and instance pages
    attachments: bool = False  # files can be attached to it (needs may_update)
    # Who may change it, and so add attachments to it and remove anyone's.
    may_update: Callable[[User, Any], bool] | None = None
    recyclable: bool = False
    # What goes to the recycle bin with it, parents before children (contacts before the quotes naming them).
    dependants: tuple[Dependant, ...] = ()
    # Called when a task about the record is reassigned: the record follows the work (e.g. its assignee).
    on_reassign: Callable[[Any, int | None, int], None] | None = None
    serializer: Callable[[Any], dict[str, Any]] | None = field(default=None, repr=False)

    def number(self, record_id: int) -> str:
        """The business number of a record: prefix and id (ids are never reused, so numbers are not)."""
        return f"{self.number_prefix}{record_id:06d}" if self.number_prefix else str(record_id)

    def get(self, record_id: int) -> Any:
        """The record without a permission check (for the engine and for readers of a task)."""
        return db.session.get(self.model, record_id)

    def caption(self, record: Any) -> str:
        """The record as a page heading names it: label, name and number ("客户 杭州云启科技 (KH000001)")."""
        number = getattr(record, "number", None)
        return f"{self.label} {_name(record)}" + (f" ({number})" if number else "")


class Registry:
    """Record types by key and by model."""

    def __init__(self) -> None:
        self._by_key: dict[str, RecordType] = {}

    def add(self, record_type: RecordType) -> None:
        if record_type.key in self._by_key:
            raise ValueError(f"record type {record_type.key!r} declared twice")
        if record_type.attachments and record_type.may_update is None:
            raise ValueError(f"record type {record_type.key!r} takes attachments but says nobody may update it")
        self._by_key[record_type.key] = record_type

    def remove(self, key: str) -> None:
        """Forget a declaration (a test's throwaway type)."""
        self._by_key.pop(key, None)

    def types(self) -> list[RecordType]:
        """Every declaration, in the order declared."""
        return list(self._by_key.values())

    def get(self, key: str | None) -> RecordType:
        try:
            return self._by_key[key or ""]
        except KeyError:
            raise NotFound("记录不存在或您无权查看") from None

    def find(self, key: str | None) -> RecordType | None:
        return self._by_key.get(key or "")

    def of(self, record: Any) -> RecordType | None:
        """The declaration of a record's model, if any."""
        return self.of_model(type(record))

    def of_model(self, model: type) -> RecordType | None:
        """The first declaration of a model, if any."""
        for record_type in self._by_key.values():
            if model is record_type.model:
                return record_type
        return None

    def keys(self, *, attachments: bool | None = None, recyclable: bool | None = None) -> list[str]:
        return [rt.key for rt in self._by_key.values()
                if (attachments is None or rt.attachments == attachments)
                and (recyclable is None or rt.recyclable == recyclable)]

    def set_serializer(self, key: str, serializer: Callable[[Any], dict[str, Any]]) -> None:
        """Attach a record type's JSON shape (the API does this beside its routes)."""
        self.get(key).serializer = serializer

    def serialize(self, key: str | None, record: Any) -> dict[str, Any] | None:
        """A record in its own JSON shape, tagged with its type."""
        if record is None:
            return None
        record_type = self.find(key)
        if record_type is None or record_type.serializer is None:
            return {"type": key, "id": getattr(record, "id", None)}
        return {"type": record_type.key, **record_type.serializer(record)}


def _opportunity_follows(record: Opportunity, old_user_id: int | None, new_user_id: int) -> None:
    # The development plan's work moved: so does the opportunity (its assignee reads and acts on it).
    if record.assignee_id is not None and record.assignee_id == old_user_id:
        record.assignee_id = new_user_id


def _service(service: str, function: str) -> Callable[..., Any]:
    """A service function looked up when called: services import this module, so it cannot import them."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"bpm_crm.services.{service}"), function)(*args, **kwargs)

    return call


def _loader(service: str, function: str, argument: str) -> Callable[[int, User], Any]:
    """A loader that calls a service's get function."""
    get = _service(service, function)

    def load(record_id: int, user: User) -> Any:
        return get(**{argument: record_id, "user": user})

    return load


def _customer_updatable(user: User, customer: Customer) -> bool:
    return permissions.can(user, "customer.update") and permissions.customer_in_scope(
        user, customer.id, "customer.update")


def _name(record: Any) -> str:
    return str(getattr(record, "name", None) or getattr(record, "customer_name", None)
               or getattr(record, "summary", ""))


def _named(record: Any) -> str:
    number = getattr(record, "number", None)
    return f"{number} {_name(record)}".strip() if number else _name(record)


RECORDS = Registry()
RECORDS.add(RecordType(
    key="opportunity", model=Opportunity, label=_("销售机会"), number_prefix="JH",
    load=_loader("opportunities", "get_opportunity", "opportunity_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="opportunities.show", id_arg="opportunity_id", summary_template="records/opportunity.html",
    on_reassign=_opportunity_follows,
))
RECORDS.add(RecordType(
    key="customer", model=Customer, label=_("客户"), number_prefix="KH",
    load=_loader("customers", "get_customer", "customer_id"),
    owner_id=lambda record: record.owner_id, title=_named,
    endpoint="customers.show", id_arg="customer_id", summary_template="records/customer.html",
    attachments=True, may_update=_customer_updatable, recyclable=True,
    dependants=(
        Dependant(Contact, "customer_id"), Dependant(Interaction, "customer_id"),
        Dependant(CustomerShare, "customer_id"), Dependant(CustomerTransfer, "customer_id"),
        Dependant(Quote, "customer_id"), Dependant(Order, "customer_id", (Dependant(OrderLine, "order_id"),)),
        Dependant(ServiceRequest, "customer_id"), Dependant(ChurnWarning, "customer_id"),
        Dependant(CareTask, "customer_id"),
    ),
))
RECORDS.add(RecordType(
    key="contact", model=Contact, label=_("联系人"),
    load=_loader("contacts", "get_contact", "contact_id"),
    owner_id=lambda record: record.customer.owner_id if record.customer else None, title=_named,
    endpoint="contacts.show", id_arg="contact_id", recyclable=True,
))
RECORDS.add(RecordType(
    key="interaction", model=Interaction, label=_("交往记录"),
    load=_loader("interactions", "get_interaction", "interaction_id"),
    owner_id=lambda record: record.customer.owner_id if record.customer else None,
    title=lambda record: f"#{record.id}",
    endpoint="interactions.show", id_arg="interaction_id", recyclable=True,
))
RECORDS.add(RecordType(
    key="quote", model=Quote, label=_("报价"), number_prefix="BJ",
    load=_loader("quotes", "get_quote", "quote_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="quotes.show", id_arg="quote_id",
    attachments=True, may_update=_service("quotes", "may_update"), recyclable=True,
    dependants=(Dependant(QuoteLine, "quote_id"),),
))
RECORDS.add(RecordType(
    key="service_request", model=ServiceRequest, label=_("客户服务"), number_prefix="FW",
    load=_loader("service_requests", "get_request", "request_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="service.show", id_arg="request_id", recyclable=True,
))
RECORDS.add(RecordType(
    key="churn_warning", model=ChurnWarning, label=_("流失预警"),
    load=_loader("churn", "get_warning", "warning_id"),
    owner_id=lambda record: record.manager_id, title=lambda record: f"#{record.id}",
    endpoint="churn.show", id_arg="warning_id", recyclable=True,
    dependants=(Dependant(ChurnMeasure, "warning_id"),),
))
RECORDS.add(RecordType(
    key="care_task", model=CareTask, label=_("客户关怀"),
    load=_loader("care", "get_care_task", "care_task_id"),
    owner_id=lambda record: record.assignee_id, title=lambda record: f"#{record.id}",
    endpoint="care.show", id_arg="care_task_id", recyclable=True,
))
