"""Named option lists for task forms, resolved on the server for the user who opens the form.

A form's select names a source as `valuesKey: "options.<source>"`; the same list is sent to the
browser and used to check the submitted value, so a new form needs no Python. Parametrised
sources carry their parameter after a dot: `options.dictionary.服务类型`, `options.role.sales_director`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.forms.schema import OPTIONS_PREFIX
from bpm_crm.models import Department, User
from bpm_crm.services import dictionary, people

Option = dict[str, Any]


def _person(user: User) -> Option:
    # The session's identity map holds rows weakly: keep the people offered, so checking the choice
    # (and the handler reading the chosen one) finds them without asking the database again.
    db.session.info.setdefault("offered_people", []).append(user)
    label = f"{user.full_name}（{user.department.name}）" if user.department else user.full_name
    return {"label": label, "value": user.id}


def _account_managers(user: User, _parameter: str) -> list[Option]:
    return [_person(u) for u in people.active_account_managers(user)]


def _role(user: User, role_code: str) -> list[Option]:
    return [_person(u) for u in people.active_users_with_role(user, role_code, "task.reassign")]


def _departments(_user: User, _parameter: str) -> list[Option]:
    rows = db.session.scalars(select(Department).order_by(Department.name))
    return [{"label": row.name, "value": row.id} for row in rows]


def _sign_off_departments(_user: User, _parameter: str) -> list[Option]:
    """Departments whose head can sign off (会签), labelled with the head."""
    rows = db.session.execute(select(Department.id, Department.name, User.full_name)
                              .join(User, Department.head_id == User.id).where(User.active.is_(True))
                              .order_by(Department.name))
    return [{"label": f"{name}（{head}）", "value": department_id} for department_id, name, head in rows]


def _service_handlers(_user: User, _parameter: str) -> list[Option]:
    """Active people who handle service requests (service.update), by department and name."""
    return [_person(u) for u in people.active_users_with_action("service.update")]


def _dictionary(_user: User, entry_type: str) -> list[Option]:
    return [{"label": item, "value": item} for item in dictionary.choices(entry_type)]


# Source name (before the first dot) -> (takes a parameter, resolver).
SOURCES: dict[str, tuple[bool, Callable[[User, str], list[Option]]]] = {
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


def resolve(keys: set[str], user: User) -> dict[str, list[Option]]:
    """The option lists a form names, as `user` may see them; an unknown source resolves to nothing."""
    resolved: dict[str, list[Option]] = {}
    for key in sorted(keys):
        source = key.removeprefix(OPTIONS_PREFIX)
        name, _dot, parameter = source.partition(".")
        entry = SOURCES.get(name)
        if entry is None or entry[0] != bool(parameter):
            resolved[key] = []
            continue
        resolved[key] = entry[1](user, parameter)
    return resolved
