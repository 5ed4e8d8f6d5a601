"""Forms of user tasks, keyed by the `form` property a diagram gives each user task.

One definition serves the task page and the API: `clean` turns submitted data into the
variables the process receives, or raises Invalid with per-field messages.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _

DECISIONS = {"success": _("开发成功"), "fail": _("终止开发")}


@dataclass
class FormContext:
    """What a form may consult: the business record and the choices offered to the user."""

    record: Any = None
    choices: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


class TaskForm(ABC):
    """Base of the task forms."""

    key = ""
    template = ""
    # Handler run (in the same transaction) when the user saves without completing.
    draft_handler: str | None = None

    @abstractmethod
    def clean(self, data: Mapping[str, Any], context: FormContext, *, final: bool) -> dict[str, Any]:
        """Validated process variables from submitted data; `final` when completing."""

    def draft_params(self, cleaned: dict[str, Any], context: FormContext) -> dict[str, Any]:
        return {}


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    return str(value).strip()[:limit] if value is not None else ""


class AssignOpportunityForm(TaskForm):
    key = "assign_opportunity"
    template = "tasks/assign_opportunity.html"

    def clean(self, data: Mapping[str, Any], context: FormContext, *, final: bool) -> dict[str, Any]:
        raw = data.get("assignee_id")
        allowed = {uid for uid, _name in context.choices.get("assignee_id", [])}
        try:
            assignee_id = int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            assignee_id = None
        if assignee_id is None:
            raise Invalid(str(_("请选择客户经理")), {"assignee_id": [str(_("请选择客户经理"))]})
        if assignee_id not in allowed:
            raise Invalid(str(_("请选择一位在职的客户经理")), {"assignee_id": [str(_("请选择一位在职的客户经理"))]})
        return {"assignee_id": assignee_id}


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rows(data: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    rows = data.get(name) or []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise Invalid(str(_("格式错误")), {name: [str(_("应为列表"))]})
    return rows


class DevelopmentPlanForm(TaskForm):
    key = "development_plan"
    template = "tasks/development_plan.html"
    draft_handler = "opportunity.save_plan"

    def clean(self, data: Mapping[str, Any], context: FormContext, *, final: bool) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        items: list[dict[str, Any]] = []
        existing = {item.id: item for item in getattr(context.record, "plan_items", [])}
        for index, row in enumerate(_rows(data, "plan_items")):
            item_id = row.get("id")
            content = _text(row, "content", 2000)
            if item_id not in (None, ""):
                try:
                    item = existing[int(item_id)]
                except (KeyError, ValueError, TypeError):
                    errors.setdefault(f"plan_items-{index}-id", []).append(str(_("计划项不属于此销售机会")))
                    continue
                day = item.date.isoformat()  # a saved item's date is not editable
            else:
                day = _text(row, "date", 10)
                if not day and not content:
                    continue  # an empty new row is no item
                if not _DATE.match(day) or not _valid_date(day):
                    errors.setdefault(f"plan_items-{index}-date", []).append(str(_("日期格式应为 2007-12-13")))
            if not content:
                errors.setdefault(f"plan_items-{index}-content", []).append(str(_("请填写计划内容")))
            items.append({"id": int(item_id) if item_id not in (None, "") else None, "date": day,
                          "content": content})
        if final and not items and not errors:
            errors["plan_items"] = [str(_("开发计划至少需要一个计划项"))]
        if errors:
            raise Invalid(str(_("请更正标出的字段")), errors)
        return {"plan_items": items}

    def draft_params(self, cleaned: dict[str, Any], context: FormContext) -> dict[str, Any]:
        return {"opportunity_id": context.record.id, "items": cleaned["plan_items"]}


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class ExecutePlanForm(TaskForm):
    key = "execute_plan"
    template = "tasks/execute_plan.html"
    draft_handler = "opportunity.record_results"

    def clean(self, data: Mapping[str, Any], context: FormContext, *, final: bool) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        known = {item.id for item in getattr(context.record, "plan_items", [])}
        results = []
        for index, row in enumerate(_rows(data, "plan_results")):
            item_id: int | None
            try:
                item_id = int(row["id"])
            except (KeyError, TypeError, ValueError):
                item_id = None
            if item_id not in known:
                errors.setdefault(f"plan_results-{index}-id", []).append(str(_("计划项不属于此销售机会")))
                continue
            results.append({"id": item_id, "result": _text(row, "result", 2000)})
        decision = data.get("decision") or None
        if decision is not None and decision not in DECISIONS:
            errors["decision"] = [str(_("请选择开发成功或终止开发"))]
        if final and decision is None:
            errors["decision"] = [str(_("请选择开发成功或终止开发"))]
        if errors:
            raise Invalid(str(_("请更正标出的字段")), errors)
        cleaned: dict[str, Any] = {"plan_results": results}
        if decision:
            cleaned["decision"] = decision
        return cleaned

    def draft_params(self, cleaned: dict[str, Any], context: FormContext) -> dict[str, Any]:
        return {"opportunity_id": context.record.id, "results": cleaned["plan_results"]}


TASK_FORMS: dict[str, TaskForm] = {
    form.key: form for form in (AssignOpportunityForm(), DevelopmentPlanForm(), ExecutePlanForm())
}


def form_keys() -> set[str]:
    return set(TASK_FORMS)


def from_formdata(formdata: Mapping[str, Any]) -> dict[str, Any]:
    """Turn HTML form fields like `plan_items-0-date` into {"plan_items": [{"date": …}]}."""
    result: dict[str, Any] = {}
    lists: dict[str, dict[int, dict[str, Any]]] = {}
    for key in formdata:
        value = formdata[key]
        match = re.fullmatch(r"([a-z_]+)-(\d+)-([a-z_]+)", key)
        if match:
            name, index, sub = match.group(1), int(match.group(2)), match.group(3)
            lists.setdefault(name, {}).setdefault(index, {})[sub] = value
        elif key != "csrf_token":
            result[key] = value
    for name, rows in lists.items():
        result[name] = [rows[i] for i in sorted(rows)]
    return result
