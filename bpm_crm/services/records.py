"""The business records processes run for, each declared once.

A declaration says what generic code needs to know about a record type: its model, label and
number prefix, how to load one for a user (with the permission check), who owns it (the data
scope of its processes), where its page is and which partial summarises it on a task page, what
happens to it when its process's work moves to someone else, which customer it belongs to and what
of it follows that customer to a new account manager, who may change it (and so attach files to
it) and which rows go to the recycle bin with it. The workflow services, the task and
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

from flask_babel import LazyString, lazy_pgettext
from sqlalchemy import and_
from sqlalchemy.orm import joinedload

from bpm_crm.errors import NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import (
    CareTask,
    ChurnMeasure,
    ChurnStatus,
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
    QuoteStatus,
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


@dataclass(frozen=True)
class Handover:
    """Which of a customer's records of one type go to the new account manager when the customer is transferred."""

    label: LazyString  # how the transfer dialog names them ("未完成的客户关怀")
    # A WHERE clause: the rows of this customer (id) that follow it from the previous owner (id or None).
    pending: Callable[[int, int | None], Any]
    # Gives one row to the new owner; None: the row follows by belonging to the customer alone.
    move: Callable[[Any, int], None] | None = None


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
    # The column naming the customer it belongs to ("id" for the customer itself): the open process work
    # about it follows that customer on a transfer.
    customer_column: str | None = None
    # What of it follows its customer to a new account manager (客户转移); None: nothing changes hands.
    handover: Handover | None = None
    serializer: Callable[[Any], dict[str, Any]] | None = field(default=None, repr=False)
    # How two submitted versions of it differ (a snapshot rides on each submission's history entry): what an
    # approver sees changed since he last decided. None: the record's approvals show no changes.
    compare_versions: Callable[[dict[str, Any], dict[str, Any]], list[Any]] | None = field(default=None, repr=False)
    # Loader options for what its JSON shape reads beside its own row (its plan, the customer it became):
    # loaded in the same statement as the record.
    eager: tuple[Any, ...] = ()

    def number(self, record_id: int) -> str:
        """The business number of a record: prefix and id (ids are never reused, so numbers are not)."""
        return f"{self.number_prefix}{record_id:06d}" if self.number_prefix else str(record_id)

    def get(self, record_id: int) -> Any:
        """The record without a permission check (for the engine and for readers of a task)."""
        return db.session.get(self.model, record_id, options=self.eager)

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

    def set_version_comparison(self, key: str, compare: Callable[[dict[str, Any], dict[str, Any]], list[Any]]) -> None:
        """Attach how two submitted versions of a record type differ (create_app wires the ones that have it)."""
        self.get(key).compare_versions = compare

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


def record_label(text: str) -> LazyString:
    """A record type's name for one record ("客户" reads "Customer" in English, where the section says "Customers")."""
    return lazy_pgettext("record", text)


def _opportunity_follows(record: Opportunity, old_user_id: int | None, new_user_id: int) -> None:
    # The development plan's work moved: so does the opportunity (its assignee reads and acts on it).
    if record.assignee_id is not None and record.assignee_id == old_user_id:
        record.assignee_id = new_user_id


def _service_request_follows(record: ServiceRequest, old_user_id: int | None, new_user_id: int) -> None:
    # 转办: the handling moved to someone else, so does the request (its handler).
    if record.handler_id is None or record.handler_id == old_user_id:
        record.handler_id = new_user_id


def _follows(column: str) -> Callable[[Any, int | None, int], None]:
    """An on_reassign: the person the record names in `column` follows the work when it was the previous holder."""

    def follow(record: Any, old_user_id: int | None, new_user_id: int) -> None:
        if getattr(record, column) is not None and getattr(record, column) == old_user_id:
            setattr(record, column, new_user_id)

    return follow


def _assign(column: str) -> Callable[[Any, int], None]:
    """A Handover.move that names the new owner in one column."""

    def move(record: Any, new_user_id: int) -> None:
        setattr(record, column, new_user_id)

    return move


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
    key="opportunity", model=Opportunity, label=record_label("销售机会"), number_prefix="JH",
    load=_loader("opportunities", "get_opportunity", "opportunity_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="opportunities.show", id_arg="opportunity_id", summary_template="records/opportunity.html",
    on_reassign=_opportunity_follows, eager=(joinedload(Opportunity.customer), joinedload(Opportunity.plan_items)),
))
RECORDS.add(RecordType(
    key="customer", model=Customer, label=record_label("客户"), number_prefix="KH",
    load=_loader("customers", "get_customer", "customer_id"),
    owner_id=lambda record: record.owner_id, title=_named,
    endpoint="customers.show", id_arg="customer_id", summary_template="records/customer.html",
    customer_column="id", attachments=True, may_update=_customer_updatable, recyclable=True,
    dependants=(
        Dependant(Contact, "customer_id"), Dependant(Interaction, "customer_id"),
        Dependant(CustomerShare, "customer_id"), Dependant(CustomerTransfer, "customer_id"),
        Dependant(Quote, "customer_id"), Dependant(Order, "customer_id", (Dependant(OrderLine, "order_id"),)),
        Dependant(ServiceRequest, "customer_id"), Dependant(ChurnWarning, "customer_id"),
        Dependant(CareTask, "customer_id"),
    ),
))
RECORDS.add(RecordType(
    key="contact", model=Contact, label=record_label("联系人"),
    load=_loader("contacts", "get_contact", "contact_id"),
    owner_id=lambda record: record.customer.owner_id if record.customer else None, title=_named,
    endpoint="contacts.show", id_arg="contact_id", customer_column="customer_id", recyclable=True,
))
RECORDS.add(RecordType(
    key="interaction", model=Interaction, label=record_label("交往记录"),
    load=_loader("interactions", "get_interaction", "interaction_id"),
    owner_id=lambda record: record.customer.owner_id if record.customer else None,
    title=lambda record: f"#{record.id}",
    endpoint="interactions.show", id_arg="interaction_id", customer_column="customer_id", recyclable=True,
))
RECORDS.add(RecordType(
    key="quote", model=Quote, label=record_label("报价"), number_prefix="BJ",
    load=_loader("quotes", "get_quote", "quote_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="quotes.show", id_arg="quote_id", customer_column="customer_id",
    # The new manager finishes the drafts (editing follows the customer); their author still reads them.
    handover=Handover(_("草稿报价"), lambda customer_id, _old: and_(
        Quote.customer_id == customer_id, Quote.status == QuoteStatus.DRAFT.value)),
    attachments=True, may_update=_service("quotes", "may_update"), recyclable=True,
    dependants=(Dependant(QuoteLine, "quote_id"),),
))
RECORDS.add(RecordType(
    key="service_request", model=ServiceRequest, label=record_label("客户服务"), number_prefix="FW",
    load=_loader("service_requests", "get_request", "request_id"),
    owner_id=lambda record: record.created_by_id, title=_named,
    endpoint="service.show", id_arg="request_id", customer_column="customer_id", recyclable=True,
    summary_template="records/service_request.html", on_reassign=_service_request_follows,
))
RECORDS.add(RecordType(
    key="churn_warning", model=ChurnWarning, label=record_label("流失预警"),
    load=_loader("churn", "get_warning", "warning_id"),
    owner_id=lambda record: record.manager_id, title=lambda record: f"#{record.id}",
    endpoint="churn.show", id_arg="warning_id", customer_column="customer_id", recyclable=True,
    # Open warnings are the new manager's to act on; closed ones keep the manager who closed them.
    handover=Handover(_("未关闭的流失预警"), lambda customer_id, old: and_(
        ChurnWarning.customer_id == customer_id, ChurnWarning.manager_id == old,
        ChurnWarning.status.in_((ChurnStatus.WARNING.value, ChurnStatus.DEFERRED.value))), _assign("manager_id")),
    dependants=(Dependant(ChurnMeasure, "warning_id"),), on_reassign=_follows("manager_id"),
))
RECORDS.add(RecordType(
    key="care_task", model=CareTask, label=record_label("客户关怀"),
    load=_loader("care", "get_care_task", "care_task_id"),
    owner_id=lambda record: record.assignee_id, title=lambda record: f"#{record.id}",
    endpoint="care.show", id_arg="care_task_id", customer_column="customer_id", recyclable=True,
    # Care still to give goes to the new manager; care given stays with who gave it.
    handover=Handover(_("未完成的客户关怀"), lambda customer_id, old: and_(
        CareTask.customer_id == customer_id, CareTask.assignee_id == old, CareTask.done_at.is_(None)),
        _assign("assignee_id")),
    on_reassign=_follows("assignee_id"),
))
