"""The parts of a task form both sides read: its component types and the fields it is made of."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bpm_crm.forms import feel

OPTIONS_PREFIX = "options."
VALUE_TYPES = frozenset({"textfield", "textarea", "number", "checkbox", "radio", "select", "checklist", "taglist",
                         "datetime", "expression"})
DISPLAY_TYPES = frozenset({"text", "html", "separator", "spacer", "image", "table"})
CONTAINER_TYPES = frozenset({"group", "dynamiclist"})
OPTION_TYPES = frozenset({"radio", "select", "checklist", "taglist"})
MULTI_TYPES = frozenset({"checklist", "taglist"})


@dataclass
class Field:
    """One component of a form, with its children for groups and repeating lists."""

    raw: dict[str, Any]
    path: tuple[str, ...]  # where its value lives, relative to the enclosing row or the form
    children: list[Field] = field(default_factory=list)
    hide: feel.Expression | None = None
    readonly: bool | feel.Expression = False
    expression: feel.Expression | None = None
    validate: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.raw.get("type"))

    @property
    def repeating(self) -> bool:
        return self.type == "dynamiclist"

    @property
    def keyed(self) -> bool:
        return self.type in VALUE_TYPES

    @property
    def label(self) -> str:
        raw = self.raw
        return str(raw.get("label") or raw.get("dateLabel") or raw.get("timeLabel") or raw.get("key")
                   or raw.get("path") or self.type)

    @property
    def options_key(self) -> str | None:
        key = self.raw.get("valuesKey")
        return key if isinstance(key, str) else None

    def options(self, resolved: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if self.options_key is not None:
            return list(resolved.get(self.options_key, []))
        values = self.raw.get("values")
        return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def flat(fields: list[Field]) -> Iterator[Field]:
    """The fields of one scope, looking through path-less groups but not into repeating lists."""
    for one in fields:
        yield one
        if one.type == "group":
            yield from flat(one.children)
