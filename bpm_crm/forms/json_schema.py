"""The OpenAPI input schema of a record, built from its rules: types, lengths, patterns, choices, ranges, required."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from bpm_crm.forms.rules import FieldRule, RecordRules
from bpm_crm.input_rules import MAX_ID

ID_SCHEMA: dict[str, Any] = {
    "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "pattern": r"^[0-9]{1,10}$"}],
    "description": f"A record id from 1 to {MAX_ID}, as a number or as digits",
}
DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date", "examples": ["2026-11-23"]}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _number(value: int | Decimal) -> int | float:
    return int(value) if value == int(value) else float(value)


def property_schema(rule: FieldRule, options: list[str] | None = None) -> dict[str, Any]:
    """The JSON schema of one field's input value; `options`: the values of a data-sourced choice, when fixed."""
    schema: dict[str, Any]
    if rule.kind == "text":
        schema = {"type": "string"}
        if rule.required:
            schema["minLength"] = 1
        if rule.max_length is not None:
            schema["maxLength"] = rule.max_length
        if rule.pattern is not None:
            schema["pattern"] = rule.pattern
        if rule.format is not None:
            schema["format"] = rule.format
    elif rule.kind == "choice":
        values = rule.values if rule.options else options
        schema = {"enum": list(values)} if values else {"type": "string"}
    elif rule.kind == "date":
        schema = dict(DATE_SCHEMA)
    elif rule.kind == "id":
        schema = dict(ID_SCHEMA)
    elif rule.kind == "integer":
        schema = {"type": "integer"}
    else:
        schema = {"type": ["string", "number"]}
    if rule.kind in ("integer", "decimal"):
        schema.update({key: _number(bound) for key, bound in (("minimum", rule.minimum), ("maximum", rule.maximum))
                       if bound is not None})
    if rule.default is not None:
        schema["default"] = _number(rule.default)
    if rule.description:
        schema["description"] = rule.description
    return schema if rule.required else _nullable(schema)


def properties(rules: RecordRules, options: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """The JSON schema of each field's input value, by name."""
    return {rule.name: property_schema(rule, (options or {}).get(rule.name)) for rule in rules}


def json_schema(rules: RecordRules, *, partial: bool = False, options: Mapping[str, list[str]] | None = None,
                read_only: Iterable[str] = (), extra: Mapping[str, dict[str, Any]] | None = None,
                description: str | None = None) -> dict[str, Any]:
    """The OpenAPI request body of a create (`partial`: of a change) of the record.

    `read_only` marks fields a process keeps (refused for most callers), `extra` adds fields the API alone takes.
    """
    fields = properties(rules, options)
    for name in read_only:
        fields[name] = {**fields[name], "readOnly": True}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**fields, **(extra or {})},
        "required": [] if partial else [rule.name for rule in rules if rule.required],
        "additionalProperties": False,
    }
    if partial or description:
        schema["description"] = description or "Only the fields to change; the result must still be valid"
    return schema
