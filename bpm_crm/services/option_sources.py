"""Named option lists for task forms, resolved on the server for the user who opens the form.

A form's select names a source as `valuesKey: "options.<source>"`; the same list is sent to the
browser and used to check the submitted value, so a new form needs no Python. Parametrised
sources carry their parameter after a dot: `options.dictionary.服务类型`, `options.role.sales_director`.

Checking a submission needs only the options it could have picked: `resolve(..., among=Chosen.of(data))`
asks each source for the options among the submitted values — one narrow query instead of the whole
list — and the form's rule (a value must be one of the options) is applied to that subset unchanged.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bpm_crm.extensions import db, hold
from bpm_crm.forms.fields import OPTIONS_PREFIX
from bpm_crm.input_rules import MAX_ID, parse_id
from bpm_crm.models import Department, User
from bpm_crm.services import dictionary, people

Option = dict[str, Any]

MAX_CHOSEN = 1000  # values looked for at most; a submission naming more is checked against the whole list


@dataclass(frozen=True)
class Chosen:
    """The values a submission could pick options with: every scalar in it, as ids and as texts."""

    ids: frozenset[int]
    texts: frozenset[str]

    @classmethod
    def of(cls, *documents: Any) -> Chosen | None:
        """The scalars of JSON documents; None (meaning "check against everything") when there are too many."""
        ids: set[int] = set()
        texts: set[str] = set()
        stack = list(documents)
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                texts.add(item)
                number = parse_id(item)
                if number is not None:
                    ids.add(number)
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                if float(item).is_integer() and 1 <= item <= MAX_ID:  # only these can be a record's id
                    ids.add(int(item))
            if len(ids) + len(texts) > MAX_CHOSEN:
                return None
        return cls(frozenset(ids), frozenset(texts))

    def keep(self, options: Iterable[Option]) -> list[Option]:
        """The options a chosen value can name (by value or by its text)."""
        return [option for option in options if option.get("value") in self.ids
                or str(option.get("value")) in self.texts]


def _person(user: User) -> Option:
    hold(user)  # the handler reading the chosen one finds him without asking the database again
    label = f"{user.full_name}（{user.department.name}）" if user.department else user.full_name
    return {"label": label, "value": user.id}


def _ids(among: Chosen | None) -> list[int] | None:
    return None if among is None else sorted(among.ids)


def _account_managers(user: User, _parameter: str, among: Chosen | None) -> list[Option]:
    return [_person(u) for u in people.active_account_managers(user, among=_ids(among))]


def _role(user: User, role_code: str, among: Chosen | None) -> list[Option]:
    return [_person(u) for u in people.active_users_with_role(user, role_code, "task.reassign", among=_ids(among))]


def _departments(_user: User, _parameter: str, among: Chosen | None) -> list[Option]:
    query = select(Department).order_by(Department.name)
    if among is not None:
        query = query.where(Department.id.in_(sorted(among.ids)))
    return [{"label": row.name, "value": row.id} for row in db.session.scalars(query)]


def _sign_off_departments(_user: User, _parameter: str, among: Chosen | None) -> list[Option]:
    """Departments whose head can sign off (会签), labelled with the head."""
    query = (select(Department.id, Department.name, User.full_name).join(User, Department.head_id == User.id)
             .where(User.active.is_(True)).order_by(Department.name))
    if among is not None:
        query = query.where(Department.id.in_(sorted(among.ids)))
    return [{"label": f"{name}（{head}）", "value": department_id} for department_id, name, head
            in db.session.execute(query)]


def _service_handlers(_user: User, _parameter: str, among: Chosen | None) -> list[Option]:
    """Active people who handle service requests (service.update), by department and name."""
    return [_person(u) for u in people.active_users_with_action("service.update", among=_ids(among))]


def _dictionary(_user: User, entry_type: str, among: Chosen | None) -> list[Option]:
    options = [{"label": item, "value": item} for item in dictionary.choices(entry_type)]
    return options if among is None else among.keep(options)


Resolver = Callable[[User, str, "Chosen | None"], list[Option]]

# Source name (before the first dot) -> (takes a parameter, resolver).
SOURCES: dict[str, tuple[bool, Resolver]] = {
    "account_managers": (False, _account_managers),
    "role": (True, _role),
    "departments": (False, _departments),
    "dictionary": (True, _dictionary),
    "sign_off_departments": (False, _sign_off_departments),
    "service_handlers": (False, _service_handlers),
}


def names() -> set[str]:
    """Source names as forms may write them (a parametrised one as "<name>.*"), for deploy checks."""
    return {f"{name}.*" if parametrised else name for name, (parametrised, _r) in SOURCES.items()}


def resolve(keys: set[str], user: User, *, among: Chosen | None = None) -> dict[str, list[Option]]:
    """The option lists a form names, as `user` may see them; an unknown source resolves to nothing.

    With `among`, only the options a chosen value can name (enough to check a submission).
    """
    resolved: dict[str, list[Option]] = {}
    for key in sorted(keys):
        source = key.removeprefix(OPTIONS_PREFIX)
        name, _dot, parameter = source.partition(".")
        entry = SOURCES.get(name)
        if entry is None or entry[0] != bool(parameter):
            resolved[key] = []
            continue
        resolved[key] = entry[1](user, parameter, among)
    return resolved
