"""What approval pages read: a request's trail in plain entries with the people named, who it waits for,
where an approver may send it back and whom he may hand it to or copy.

bpm_crm.services.approvals acts; this module only reads. An entry says what happened as a kind and the
names it needs (the page words it in the reader's language), never as a sentence.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, ProcessEvent, ProcessInstance, TaskStatus, User
from bpm_crm.services import approvals, definitions, instances
from bpm_crm.services.records import RECORDS

# Actions on a request whose people are named in its data, and where.
_PEOPLE_KEYS = ("to_user_id", "user_ids", "mentioned")
DECISION_KINDS = {"approve": "approve", "reject": "reject", "return": "return"}


@dataclass(frozen=True)
class TrailEntry:
    """One thing that happened to a request, as the approval timeline shows it.

    `kind`: started, resubmitted, approve, reject, return, done (a non-approval task finished), returned
    (sent back to an earlier step, `detail` = that step), transferred, added_signer (`detail` = before/after),
    withdrawn, nudged, comment, watchers, completed, and the automatic decisions auto_self, auto_dedupe,
    auto_left (`people` = who left, then who approves instead) and auto_empty (`detail` = the step's policy:
    admin, pass, reject or user:<name>).
    """

    kind: str
    at: datetime
    round: int  # 1 for the first submission, 2 after the first resubmission …
    who: str | None = None
    step: str | None = None
    comment: str | None = None
    people: tuple[str, ...] = ()
    detail: str | None = None


def _step_names(instance: ProcessInstance) -> dict[str, str]:
    steps = definitions.version(instance.definition_id).parsed.approval_steps
    return {element_id: step.name for element_id, step in steps.items()}


def _named(events: list[ProcessEvent]) -> dict[int, str]:
    """The full names of everyone the events' data mention, in one query."""
    ids: set[int] = set()
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        for key in _PEOPLE_KEYS:
            value = data.get(key)
            ids.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int))
        for note in data.get("notes", []) if isinstance(data.get("notes"), list) else []:
            for key in ("user_id", "instead"):
                if isinstance(note.get(key), int):
                    ids.add(note[key])
            ids.update(v for v in note.get("user_ids", []) or [] if isinstance(v, int))
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))
    return {row.id: row.full_name for row in rows}


def trail(instance_id: int) -> list[TrailEntry]:
    """Every action on the request's approval, oldest first, automatic decisions in plain entries."""
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        return []
    events = approvals.approval_history(instance_id)
    names = _named(events)
    steps = _step_names(instance)
    # A transfer keeps its note on the hand-over it made (the task's "reassigned" line), not on itself.
    notes = {event.human_task_id: event.comment for event in instances.history(instance_id)
             if event.action == "reassigned" and event.comment}
    entries: list[TrailEntry] = []
    round_number = 0
    for event in events:
        if event.action in ("started", "resubmitted"):
            round_number += 1
        entries.extend(_entries(event, max(round_number, 1), names, steps, notes))
    # The author's own step before resubmitting ("修改报价") says nothing the resubmission does not.
    return [entry for entry, after in zip(entries, [*entries[1:], None], strict=True)
            if not (entry.kind == "done" and after is not None and after.kind == "resubmitted"
                    and after.who == entry.who)]


def _people(names: dict[int, str], value: Any) -> tuple[str, ...]:
    ids = value if isinstance(value, list) else [value]
    return tuple(names[i] for i in ids if isinstance(i, int) and i in names)


def _entries(event: ProcessEvent, round_number: int, names: dict[int, str], steps: dict[str, str],
             notes: dict[int | None, str]) -> list[TrailEntry]:
    data = event.data if isinstance(event.data, dict) else {}
    comment = event.comment or (notes.get(event.human_task_id) if event.action == "transferred" else None)
    base = TrailEntry("", event.at, round_number, who=event.user.full_name if event.user else None,
                      step=event.task_name, comment=comment)
    action = event.action
    if action == "completed_task":
        return [replace(base, kind=DECISION_KINDS.get(str(data.get("decision")), "done"))]
    if action == "returned":
        target = str(data.get("to", ""))
        return [replace(base, kind="returned", detail=steps.get(target, target))]
    if action in ("transferred", "added_signer"):
        position = data.get("position") if action == "added_signer" else None
        return [replace(base, kind=action, people=_people(names, data.get("to_user_id")),
                        detail=str(position) if position else None)]
    if action in ("nudged", "watchers_added"):
        kind = "watchers" if action == "watchers_added" else "nudged"
        return [replace(base, kind=kind, people=_people(names, data.get("user_ids")))]
    if action == "comment":
        return [replace(base, kind="comment", people=_people(names, data.get("mentioned")))]
    if action == "approval_auto":
        step = steps.get(str(data.get("step") or event.task_name), event.task_name)
        return [_automatic(note, event.at, round_number, step, names) for note in data.get("notes", [])
                if isinstance(note, dict)]
    if action in ("started", "resubmitted", "withdrawn", "completed"):
        return [replace(base, kind=action, step=None)]  # their task_name is no step (a record number)
    return []


def _automatic(note: dict[str, Any], at: datetime, round_number: int, step: str | None,
               names: dict[int, str]) -> TrailEntry:
    rule = note.get("rule")
    if rule == "self":
        return TrailEntry("auto_self", at, round_number, step=step, people=_people(names, note.get("user_id")))
    if rule == "dedupe":
        return TrailEntry("auto_dedupe", at, round_number, step=step, people=_people(names, note.get("user_ids")))
    if rule == "left":
        return TrailEntry("auto_left", at, round_number, step=step,
                          people=_people(names, [note.get("user_id"), note.get("instead")]))
    return TrailEntry("auto_empty", at, round_number, step=step, people=_people(names, note.get("user_ids")),
                      detail=str(note.get("policy") or "admin"))


def request(instance_id: int | None) -> ProcessInstance | None:
    """A request by id, for a page that has already checked the user may see its record."""
    return db.session.get(ProcessInstance, instance_id) if instance_id else None


def waiting(instance_id: int) -> list[HumanTask]:
    """The open tasks of a request: the steps it waits in and for whom."""
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)
        .options(selectinload(HumanTask.assignee)).order_by(HumanTask.id)))


def return_targets(task: HumanTask) -> list[tuple[str, str]]:
    """Earlier approval steps of this request an approver may send it back to: (element id, name), in order."""
    steps = _step_names(task.instance)
    passed = db.session.execute(
        select(HumanTask.bpmn_id, func.min(HumanTask.id).label("first"))
        .where(HumanTask.instance_id == task.instance_id, HumanTask.status == TaskStatus.COMPLETED,
               HumanTask.bpmn_id != task.bpmn_id)
        .group_by(HumanTask.bpmn_id).order_by("first")).all()
    return [(bpmn_id, steps[bpmn_id]) for bpmn_id, _first in passed if bpmn_id in steps]


def colleagues(user: User) -> list[User]:
    """Active people other than the user, by department and name: whom he may hand a decision to or copy."""
    return list(db.session.scalars(select(User).where(User.active.is_(True), User.id != user.id)
                                   .options(selectinload(User.department))
                                   .order_by(User.department_id, User.full_name)))


@dataclass(frozen=True)
class Change:
    """One field that differs between two submitted versions of a record, or one line added, removed or changed."""

    kind: str  # "field", "added", "removed", "changed"
    label: str
    before: str | None = None
    after: str | None = None
    fields: tuple[tuple[str, str, str], ...] = ()  # for a changed line: (label, before, after)


SUBMISSIONS = ("submitted", "resubmitted")  # history entries that carry the record as submitted ("snapshot")


def _submissions(instance_id: int) -> list[tuple[int, dict[str, Any]]]:
    """(event id, snapshot) of each submission of the request, oldest first."""
    rows = db.session.execute(select(ProcessEvent.id, ProcessEvent.data).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.action.in_(SUBMISSIONS))
        .order_by(ProcessEvent.id)).all()
    return [(event_id, data["snapshot"]) for event_id, data in rows if isinstance(data, dict) and "snapshot" in data]


def changes_since_seen(instance_id: int, user: User) -> list[Change] | None:
    """What changed since the version this user last decided on; None when he has not decided on an earlier one,
    or the record type says nothing of its versions."""
    instance = db.session.get(ProcessInstance, instance_id)
    record_type = RECORDS.find(instance.business_type) if instance is not None else None
    if record_type is None or record_type.compare_versions is None:
        return None
    rounds = _submissions(instance_id)
    if len(rounds) < 2:
        return None
    last_decision = db.session.scalar(select(ProcessEvent.id).where(
        ProcessEvent.instance_id == instance_id, ProcessEvent.user_id == user.id,
        ProcessEvent.action.in_(("completed_task", "returned", "transferred", "added_signer")),
        ProcessEvent.id > rounds[0][0], ProcessEvent.id < rounds[-1][0]).order_by(ProcessEvent.id.desc()).limit(1))
    if last_decision is None:
        return None
    seen = [snapshot for event_id, snapshot in rounds if event_id < last_decision][-1]
    return record_type.compare_versions(seen, rounds[-1][1])


def changes_for(task: HumanTask, user: User) -> list[Change] | None:
    """What an approver sees changed on a task still to decide: since the version he last decided on (page and API)."""
    return changes_since_seen(task.instance_id, user) if task.status == TaskStatus.OPEN else None
