"""Who approves an approval step (审批节点): the org chart read when the step is reached, exceptions recorded.

Called by the compiled step's service task (handler name `approval.resolve`). Rules: named users, a role
(its holders whose scope covers the requester), the requester's superior N levels up, every superior up
to level N (连续多级主管), the head of the requester's or a named department, people the requester chose
or a person field of a form. Then, in this order and each one written to the history, never silent:
an approver who has left is replaced by his superior; the requester himself approves automatically
(`self_approval=pass`); someone who already approved this request is not asked twice (`dedupe`); and
when nobody is left the step follows `on_empty` (the administrators, a named user, pass or reject).
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import Department, ProcessEvent, Role, User
from bpm_crm.services import permissions

MAX_APPROVERS = 50


def resolve(context: HandlerContext, *, step: str, approvers: str, on_empty: str, self_approval: str, mode: str,
            dedupe: bool = True, chosen: Any = None) -> dict[str, Any]:
    """The approvers of one step, and an automatic outcome when the exceptions decide it."""
    instance = context.instance
    requester = db.session.get(User, instance.started_by_id) if instance.started_by_id else None
    notes: list[dict[str, Any]] = []
    ids = _from_rule(approvers, requester, chosen)
    ids = _present(ids, notes)
    if requester is not None and requester.id in ids and self_approval == "pass":
        ids = [i for i in ids if i != requester.id]
        notes.append({"rule": "self", "user_id": requester.id})
        if not ids or mode == "any":
            _record(context, step, notes)
            return {"approvers": [], "auto": "approved", "notes": notes}
    if dedupe:
        earlier = _approved_this_round(instance.id)
        skipped = [i for i in ids if i in earlier]
        if skipped:
            notes.append({"rule": "dedupe", "user_ids": skipped})
            ids = [i for i in ids if i not in earlier]
            if not ids:
                _record(context, step, notes)
                return {"approvers": [], "auto": "approved", "notes": notes}
    if not ids:
        auto, ids = _when_empty(on_empty)
        notes.append({"rule": "empty", "policy": on_empty, "user_ids": ids})
        if auto is not None:
            _record(context, step, notes)
            return {"approvers": [], "auto": auto, "notes": notes}
        if not ids:  # the administrators were asked for but there are none: refuse rather than pass silently
            raise LookupError(f"'{step}': nobody can approve — no approver found and no administrator")
    share = int(mode[6:]) if mode.startswith("share:") else None
    if share is not None and share > len(ids):
        raise ValueError(f"'{step}': the step needs {share} approvals but found only {len(ids)} approver(s)")
    _record(context, step, notes)
    return {"approvers": ids[:MAX_APPROVERS], "auto": None, "notes": notes}


def _from_rule(rule: str, requester: User | None, chosen: Any) -> list[int]:
    if rule.startswith("="):
        return _ids(chosen)
    found: list[int] = []
    for item in (part.strip() for part in re.split(r"[,;，]", rule) if part.strip()):
        kind, _sep, value = item.partition(":")
        kind, value = kind.strip().lower(), value.strip()
        if kind == "user":
            found += list(db.session.scalars(select(User.id).where(User.username == value)))
        elif kind == "role":
            found += _role_holders(value, requester)
        elif kind in ("superior", "superiors"):
            chain = _superiors(requester, int(value or 1))
            found += chain[-1:] if kind == "superior" and len(chain) == int(value or 1) else (
                chain if kind == "superiors" else [])
        elif kind == "department_head":
            found += _department_head(value, requester)
        elif kind in ("chosen", "field"):
            found += _ids(chosen)
    return list(dict.fromkeys(found))


def _ids(value: Any) -> list[int]:
    values = value if isinstance(value, (list, tuple)) else [value]
    ids = []
    for item in values:
        if isinstance(item, bool) or item in (None, ""):
            continue
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            ids.append(int(item))
        elif isinstance(item, dict) and str(item.get("value", "")).isdigit():
            ids.append(int(item["value"]))
    return ids


def _role_holders(code: str, requester: User | None) -> list[int]:
    """The role's active holders (in id order) whose claim scope covers the requester."""
    holders = permissions.people_named("role", code)
    if requester is None:
        return holders
    return [holder for holder in holders if permissions.user_in_scope(holder, "task.claim", [requester.id])]


def _superiors(requester: User | None, levels: int) -> list[int]:
    chain: list[int] = []
    current = requester
    while current is not None and current.superior_id is not None and len(chain) < levels:
        if current.superior_id in chain:
            break
        chain.append(current.superior_id)
        current = db.session.get(User, current.superior_id)
    return chain


def _department_head(name: str, requester: User | None) -> list[int]:
    if name:
        head = db.session.scalar(select(Department.head_id).where(Department.name == name))
    else:
        department = db.session.get(Department, requester.department_id) if requester and \
            requester.department_id else None
        head = department.head_id if department is not None else None
    return [head] if head else []


def _present(ids: list[int], notes: list[dict[str, Any]]) -> list[int]:
    """Approvers who have left are replaced by their superior (once per chain)."""
    result: list[int] = []
    for user_id in ids:
        person = db.session.get(User, user_id)
        seen = set()
        while person is not None and not person.active and person.superior_id and person.id not in seen:
            seen.add(person.id)
            notes.append({"rule": "left", "user_id": person.id, "instead": person.superior_id})
            person = db.session.get(User, person.superior_id)
        if person is not None and person.active and person.id not in result:
            result.append(person.id)
    return result


def _approved_this_round(instance_id: int) -> set[int]:
    """Who approved a step of this request since it was last submitted."""
    events = db.session.execute(select(ProcessEvent.action, ProcessEvent.user_id, ProcessEvent.data).where(
        ProcessEvent.instance_id == instance_id).order_by(ProcessEvent.id)).all()
    approved: set[int] = set()
    for action, user_id, data in events:
        if action in ("started", "resubmitted") or (action == "returned" and isinstance(data, dict)
                                                      and data.get("to")):
            approved = set()  # a new round, or a step sent back: its people are asked again
        elif action == "completed_task" and isinstance(data, dict) and data.get("decision") == "approve" and user_id:
            approved.add(user_id)
        elif action == "approval_auto" and isinstance(data, dict):
            approved |= {note["user_id"] for note in data.get("notes", []) if note.get("rule") == "self"}
    return approved


def _when_empty(policy: str) -> tuple[str | None, list[int]]:
    if policy == "pass":
        return "approved", []
    if policy == "reject":
        return "rejected", []
    if policy.startswith("user:"):
        user_id = db.session.scalar(select(User.id).where(User.username == policy[5:], User.active.is_(True)))
        return None, [user_id] if user_id else []
    admins = db.session.scalars(select(User.id).join(User.roles).where(Role.code == "admin",
                                                                       User.active.is_(True)).order_by(User.id))
    return None, list(admins)


def _record(context: HandlerContext, step: str, notes: list[dict[str, Any]]) -> None:
    if notes:
        db.session.add(ProcessEvent(instance_id=context.instance.id, action="approval_auto", task_name=step,
                                    data={"step": step, "notes": notes}))
