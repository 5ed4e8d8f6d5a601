"""Handlers of the care process (客户关怀): the care was given — by whom, when, and how it went."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bpm_crm.errors import Conflict, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import CareTask
from bpm_crm.models.base import utcnow

MAX_NOTE = 4000


def complete(context: HandlerContext, *, care_task_id: int, note: str | None = None) -> dict[str, Any]:
    """`care.complete`: record that the care was given, once; the note is appended to the task's own."""
    task = db.session.scalar(select(CareTask).where(CareTask.id == care_task_id).with_for_update()
                             .execution_options(populate_existing=True))
    if task is None:
        raise NotFound("关怀任务 %(id)s 不存在", code="care_task_not_found", id=care_task_id)
    if task.done_at is not None:
        raise Conflict("此关怀任务已完成", code="care_task_done")
    user_id = context.user.id if context.user else None
    text = (note or "").strip()[:MAX_NOTE] if isinstance(note, str) else ""
    task.done_by_id = user_id
    task.done_at = utcnow()
    if text:
        task.note = f"{task.note}\n{text}" if task.note else text
    task.updated_by_id = user_id or task.updated_by_id
    return {"done_at": task.done_at, "done_by_id": user_id}


HANDLERS = {"care.complete": complete}
