"""What the task-form templates show: the record's rows, merged with what the user just submitted."""
from __future__ import annotations

from typing import Any


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def plan_rows(record: Any, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of the development plan; a saved row keeps its stored date (it is not editable)."""
    saved = {item.id: item for item in getattr(record, "plan_items", [])}
    if values is None:
        return [{"id": item.id, "date": item.date.isoformat(), "content": item.content, "saved": True}
                for item in saved.values()]
    rows = []
    for row in values.get("plan_items") or []:
        item = saved.get(_int(row.get("id")))
        rows.append({
            "id": item.id if item else None,
            "date": item.date.isoformat() if item else str(row.get("date") or ""),
            "content": str(row.get("content") or ""),
            "saved": item is not None,
        })
    return rows


def result_rows(record: Any, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per plan item with its result: the submitted one, else the stored one."""
    submitted: dict[int | None, str] = {}
    if values is not None:
        submitted = {_int(row.get("id")): str(row.get("result") or "") for row in values.get("plan_results") or []}
    return [
        {"id": item.id, "date": item.date, "content": item.content,
         "result": submitted.get(item.id, item.result or "") if values is not None else (item.result or "")}
        for item in getattr(record, "plan_items", [])
    ]


def form_values(draft: dict[str, Any] | None, values: dict[str, Any] | None) -> dict[str, Any]:
    """Plain fields (assignee, decision, comment): the submission, else the saved draft."""
    return dict(values if values is not None else (draft or {}))
