"""Plain HTML form posts read as nested data: `plan_items-0-date` becomes {"plan_items": [{"date": …}]}."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ROW_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)-(\d{1,3})-([A-Za-z_][A-Za-z0-9_]*)")


def from_formdata(formdata: Mapping[str, Any]) -> dict[str, Any]:
    """Fields named `<list>-<row>-<field>` become lists of rows; the CSRF token is left out."""
    result: dict[str, Any] = {}
    lists: dict[str, dict[int, dict[str, Any]]] = {}
    for key in formdata:
        value = formdata[key]
        match = _ROW_FIELD.fullmatch(key)
        if match:
            name, index, sub = match.group(1), int(match.group(2)), match.group(3)
            lists.setdefault(name, {}).setdefault(index, {})[sub] = value
        elif key != "csrf_token":
            result[key] = value
    for name, rows in lists.items():
        result[name] = [rows[i] for i in sorted(rows)]
    return result
