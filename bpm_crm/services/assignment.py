"""Who a user task is for: candidates and watchers as a diagram states them.

A user task's `candidates` (and `watchers`) property lists people by kind, separated by commas:
`role:sales_supervisor, department:质量部, user:manager1` — a role by code or name, a department by
name (offered to its head), a person by user name. Written as an expression (`=approvers`), it is
evaluated against the task's data and may give a user id, such a string, or a list of either —
which is how a multi-instance sign-off addresses each department in turn. Lanes that name a role
remain the default for tasks without candidates.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import CandidateKind, Department, Role, User

_KIND_NAMES = {"role": CandidateKind.ROLE, "department": CandidateKind.DEPARTMENT, "dept": CandidateKind.DEPARTMENT,
               "user": CandidateKind.USER}
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class Candidate:
    """One resolved candidate: a user id, a role code or a department id, as stored in the inbox."""

    kind: CandidateKind
    value: str


def is_expression(text: str | None) -> bool:
    return bool(text) and str(text).lstrip().startswith("=")


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace(";", ",").replace("，", ",").split(",") if item.strip()]


def parse_candidates(text: str | None, *, roles: Mapping[str, str], departments: Mapping[str, str],
                     usernames: Collection[str]) -> list[tuple[CandidateKind, str]]:
    """Check a literal candidates property at deploy time; ValueError names what is wrong."""
    if not text or is_expression(text):
        return []
    parsed: list[tuple[CandidateKind, str]] = []
    for item in _items(text):
        kind_name, _sep, value = item.partition(":")
        kind = _KIND_NAMES.get(kind_name.strip().lower())
        value = value.strip()
        if kind is None or not value:
            raise ValueError(f"'{item}' should read role:<code>, department:<name> or user:<username>")
        if kind is CandidateKind.ROLE and value not in roles:
            raise ValueError(f"there is no role '{value}'")
        if kind is CandidateKind.DEPARTMENT and value not in departments and not value.isdigit():
            raise ValueError(f"there is no department '{value}'")
        if kind is CandidateKind.USER and value not in usernames:
            raise ValueError(f"there is no user '{value}'")
        parsed.append((kind, value))
    return parsed


def resolve(values: Iterable[object]) -> list[Candidate]:
    """Candidates from literal items or an expression's result (ids, "kind:value" strings, lists of them)."""
    flat: list[object] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            flat.extend(value)
        elif isinstance(value, str) and not is_expression(value):
            flat.extend(_items(value))
        elif value is not None:
            flat.append(value)
    if len(flat) > MAX_CANDIDATES:
        raise ValueError(f"more than {MAX_CANDIDATES} candidates")
    role_codes = {code: code for code in db.session.scalars(select(Role.code))}
    role_codes.update({name: code for code, name in db.session.execute(select(Role.code, Role.name))})
    result: list[Candidate] = []
    for value in flat:
        candidate = _one(value, role_codes)
        if candidate not in result:
            result.append(candidate)
    return result


def _one(value: object, role_codes: Mapping[str, str]) -> Candidate:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' does not name a person, role or department")
    if isinstance(value, int):
        return Candidate(CandidateKind.USER, str(value))
    if not isinstance(value, str):
        raise ValueError("candidates must be user ids or text like role:<code>")
    if value.isdigit():
        return Candidate(CandidateKind.USER, value)
    kind_name, _sep, rest = value.partition(":")
    kind = _KIND_NAMES.get(kind_name.strip().lower())
    rest = rest.strip()
    if kind is CandidateKind.ROLE and rest in role_codes:
        return Candidate(kind, role_codes[rest])
    if kind is CandidateKind.DEPARTMENT:
        department_id = rest if rest.isdigit() else db.session.scalar(
            select(Department.id).where(Department.name == rest))
        if department_id is not None:
            return Candidate(kind, str(department_id))
    if kind is CandidateKind.USER:
        user_id = rest if rest.isdigit() else db.session.scalar(select(User.id).where(User.username == rest))
        if user_id is not None:
            return Candidate(kind, str(user_id))
    raise ValueError(f"'{value}' does not name an existing person, role or department")


def lane_candidate(lane: str | None, lane_roles: Mapping[str, str]) -> list[Candidate]:
    """The role a lane names, as resolved when the diagram was deployed."""
    code = lane_roles.get(lane or "")
    return [Candidate(CandidateKind.ROLE, code)] if code else []
