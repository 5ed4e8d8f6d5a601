"""Explicit JSON shapes of the API's resources: one small function per resource."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bpm_crm.forms.fields import OPTION_TYPES
from bpm_crm.models import HumanTask, Opportunity, PlanItem, ProcessEvent, ProcessInstance, TaskCandidate, User
from bpm_crm.services import inbox, permissions
from bpm_crm.services.approval_trail import Change
from bpm_crm.services.human_tasks import TaskForm
from bpm_crm.services.inbox import InboxCounts
from bpm_crm.services.paging import Page
from bpm_crm.services.quote_approval import StepTime


def timestamp(value: datetime | None) -> str | None:
    """A stored naive-UTC datetime as ISO 8601 with a Z, e.g. 2026-11-23T09:00:00Z."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def money(value: Any) -> str | None:
    """An amount as the API writes it: text with two decimals ("300.00"), whatever the database returned."""
    return None if value is None else format(Decimal(str(value)), ".2f")


def jsonable(value: Any) -> Any:
    """Process data made JSON-safe: datetimes as timestamps, dates ISO, the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


def page(result: Page, item: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A list response: items with the pager's numbers."""
    return {"items": [item(row) for row in result.items], "page": result.page, "per_page": result.per_page,
            "total": result.total, "pages": result.pages}


def user_ref(user: User | None) -> dict[str, Any] | None:
    """A user as others see him: id, username, name."""
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "full_name": user.full_name}


def user(account: User) -> dict[str, Any]:
    """The signed-in user: identity, department, superior and roles."""
    return {
        **(user_ref(account) or {}),
        "email": account.email,
        "department": account.department.name if account.department else None,
        "superior_id": account.superior_id,
        "roles": sorted(account.role_codes),
    }


def me(account: User) -> dict[str, Any]:
    """The signed-in user with the scope each of his permitted actions reaches."""
    scopes: dict[str, str] = {}
    for role in account.roles:
        for grant in role.permissions:
            scope = permissions.scope_for(account, grant.action)
            if scope is not None:
                scopes[grant.action] = scope.name.lower()
    return {**user(account), "permissions": dict(sorted(scopes.items()))}


def plan_item(item: PlanItem) -> dict[str, Any]:
    return {"id": item.id, "date": item.date.isoformat(), "content": item.content, "result": item.result}


def opportunity(record: Opportunity) -> dict[str, Any]:
    """An opportunity as listed: its fields, status, people and process."""
    return {
        "id": record.id,
        "number": record.number,
        "source": record.source,
        "customer_name": record.customer_name,
        "probability": record.probability,
        "summary": record.summary,
        "contact": record.contact,
        "contact_phone": record.contact_phone,
        "description": record.description,
        "status": record.status,
        "created_by": user_ref(record.created_by),
        "created_at": timestamp(record.created_at),
        "updated_at": timestamp(record.updated_at),
        "assignee": user_ref(record.assignee),
        "assigned_at": timestamp(record.assigned_at),
        "closed_at": timestamp(record.closed_at),
        "process_instance_id": record.process_instance_id,
    }


def opportunity_detail(record: Opportunity) -> dict[str, Any]:
    """An opportunity with its development plan and the customer it became, if any."""
    return {
        **opportunity(record),
        "customer_id": record.customer.id if record.customer else None,
        "plan_items": [plan_item(item) for item in record.plan_items],
    }


def instance_ref(instance: ProcessInstance) -> dict[str, Any]:
    return {"id": instance.id, "process_id": instance.process_id, "title": instance.title,
            "status": instance.status, "business_type": instance.business_type,
            "business_id": instance.business_id}


def candidate(row: TaskCandidate) -> dict[str, Any]:
    return {"kind": row.kind, "value": row.value}


def task(row: HumanTask) -> dict[str, Any]:
    """An inbox row: the step, who holds it or may take it, when it is due, the process it belongs to."""
    return {
        "id": row.id,
        "name": row.name,
        "bpmn_id": row.bpmn_id,
        "form_key": row.form_key,
        "status": row.status,
        "lane": row.lane,
        "candidate_role": row.candidate_role,
        "candidates": [candidate(c) for c in row.candidates],
        "assignee": user_ref(row.assignee),
        "due_at": timestamp(row.due_at),
        "remind_at": timestamp(row.remind_at),
        "escalate_at": timestamp(row.escalate_at),
        "overdue": inbox.is_overdue(row),
        "created_at": timestamp(row.created_at),
        "completed_at": timestamp(row.completed_at),
        "completed_by": user_ref(row.completed_by),
        "process_instance": instance_ref(row.instance),
    }


def _choices(form: TaskForm) -> dict[str, list[dict[str, Any]]]:
    """Options of the form's choice fields by field key (for clients that do not render form-js)."""
    if form.schema is None:
        return {}
    return {
        ".".join(field.path): [{"id": option.get("value"), "label": str(option.get("label", ""))}
                               for option in field.options(form.options)]
        for field in form.schema.walk() if field.path and field.type in OPTION_TYPES
    }


def task_detail(row: HumanTask, *, record: dict[str, Any] | None, form: TaskForm,
                actions: list[str], approval: dict[str, Any] | None = None) -> dict[str, Any]:
    """A task with its form (definition, opening data, options), draft, record, watchers and allowed actions."""
    data = {key: value for key, value in form.data.items() if key not in form.options}
    return {
        **task(row),
        "form": form.definition,
        "form_data": jsonable(data),
        "options": {key: [{"label": str(o.get("label", "")), "value": o.get("value")} for o in options]
                    for key, options in form.options.items()},
        "choices": _choices(form),
        "draft": jsonable(row.draft),
        "record": record,
        "watchers": [user_ref(watcher.user) for watcher in row.watchers],
        "actions": actions,
        "approval": approval,
    }


def counts(value: InboxCounts) -> dict[str, int]:
    return {"mine": value.mine, "claimable": value.claimable, "watched": value.watched, "overdue": value.overdue}


def event(row: ProcessEvent) -> dict[str, Any]:
    """One history line: who did what, when, with what data and comment."""
    return {"action": row.action, "task_name": row.task_name, "user": user_ref(row.user),
            "at": timestamp(row.at), "data": jsonable(row.data), "comment": row.comment}


def process_instance(instance: ProcessInstance, *, steps: list[str], variables: Mapping[str, Any],
                     events: list[ProcessEvent]) -> dict[str, Any]:
    """A process instance with its definition version, current steps, variables and history."""
    definition = instance.definition
    return {
        **instance_ref(instance),
        "definition": {"id": definition.id, "name": definition.name, "version": definition.version},
        "started_by": user_ref(instance.started_by),
        "started_at": timestamp(instance.started_at),
        "ended_at": timestamp(instance.ended_at),
        "next_timer_at": timestamp(instance.next_timer_at),
        "error": instance.error,
        "current_steps": steps,
        "variables": jsonable(dict(variables)),
        "history": [event(row) for row in events],
    }


def approval_event(row: ProcessEvent) -> dict[str, Any]:
    """One action on a request's approval: what, at which step, by whom, when, the decision and the comment."""
    data = row.data if isinstance(row.data, dict) else {}
    decision = data.get("decision") if row.action == "completed_task" else None
    return {"action": row.action, "step": row.task_name, "user": user_ref(row.user), "at": timestamp(row.at),
            "decision": decision if isinstance(decision, str) else None, "comment": row.comment}


def step_time(item: StepTime) -> dict[str, Any]:
    """How long one approver's task waited; an open one has no end and no duration yet."""
    return {"step": item.step, "approver": item.approver, "opened_at": timestamp(item.opened_at),
            "closed_at": timestamp(item.closed_at), "seconds": item.seconds}


def change(item: Change) -> dict[str, Any]:
    """One difference of a resubmitted request against the version an approver decided on."""
    return {"kind": item.kind, "label": item.label, "before": item.before, "after": item.after,
            "fields": [{"label": label, "before": before, "after": after} for label, before, after in item.fields]}
