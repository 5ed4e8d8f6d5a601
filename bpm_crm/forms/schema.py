"""Task forms as data: form-js definitions, checked when deployed and enforced on every submission.

A user task names a form (the `form` property in the diagram); the form is a form-js JSON
definition deployed with the diagram. The browser renders it with the form-js viewer; this
module reads the same definition on the server:

- `check_form` lists what is wrong with a definition before it is deployed (unknown
  component types, duplicate or reserved keys, FEEL outside the supported subset, patterns
  that do not compile, option sources that do not exist);
- `FormSchema.clean` turns a submission into the task's variables or raises Invalid with a
  message per field path ("plan_items.1.date"), applying exactly the rules the browser
  applies (bpm_crm.forms.submission): required, types, lengths, ranges, patterns, allowed
  option values, repeating rows, hidden (`conditional.hide`) and read-only fields — and
  refusing unknown fields.

The component types and the Field both sides read are in bpm_crm.forms.fields.

No database here: option lists arrive resolved (`options`), and the data the form was
opened with (`initial`) comes from the process, never from the client.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import regex

from bpm_crm.forms import feel, submission
from bpm_crm.forms.fields import (
    CONTAINER_TYPES,
    DISPLAY_TYPES,
    OPTION_TYPES,
    OPTIONS_PREFIX,
    VALUE_TYPES,
    Field,
    flat,
)

REFUSED_TYPES = {
    "filepicker": "file uploads in task forms are not supported yet; attach files to the record instead",
    "iframe": "embedded pages are not allowed in task forms",
    "button": "the task page has its own submit button; remove the form's buttons",
    "documentPreview": "document previews are not supported in task forms",
}
_KEY_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")


class FormInvalid(ValueError):
    """A form definition that must not be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class FormSchema:
    """A parsed, checked form definition."""

    form_id: str
    raw: dict[str, Any]
    fields: list[Field]

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> FormSchema:
        """Parse a definition that passed check_form (raises FormInvalid otherwise)."""
        problems: list[str] = []
        schema = _build(dict(raw), problems, option_sources=None, reserved=frozenset())
        if problems:
            raise FormInvalid(problems)
        return schema

    def walk(self) -> Iterator[Field]:
        """Every field, depth first."""
        stack = list(reversed(self.fields))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(current.children))

    def option_keys(self) -> set[str]:
        """The option sources this form needs (valuesKey)."""
        return {f.options_key for f in self.walk() if f.options_key}

    def reads(self) -> set[str]:
        """Top-level data names the form shows or consults: what it must be opened with."""
        names: set[str] = set()
        for one in self.walk():
            for expression in (one.hide, one.expression,
                               one.readonly if isinstance(one.readonly, feel.Expression) else None):
                if expression is not None:
                    names |= {n for n in expression.names if n not in ("this", "parent", "i")}
            source = one.raw.get("dataSource")
            if isinstance(source, str) and feel.is_expression(source):
                names |= feel.parse(source).names
            elif isinstance(source, str):
                names.add(source)
        for one in flat(self.fields):  # fields inside repeated rows are read through their list
            if one.path and (one.keyed or one.type in CONTAINER_TYPES):
                names.add(one.path[0])
        return names

    def clean(self, submitted: Any, *, initial: Mapping[str, Any],
              options: Mapping[str, list[dict[str, Any]]], final: bool = True,
              today: date | None = None) -> dict[str, Any]:
        """The variables a submission gives the process, or Invalid with a message per field path."""
        return submission.clean(self.fields, submitted, initial=initial, options=options, final=final,
                                today=today or date.today())


def check_form(raw: Any, *, option_sources: Collection[str], reserved: Collection[str]) -> FormSchema:
    """Parse and check a definition for deployment; FormInvalid lists every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise FormInvalid(["a form definition must be a JSON object"])
    schema = _build(raw, problems, option_sources=set(option_sources), reserved=frozenset(reserved))
    if problems:
        raise FormInvalid(problems)
    return schema


def _build(raw: dict[str, Any], problems: list[str], *, option_sources: set[str] | None,
           reserved: frozenset[str]) -> FormSchema:
    form_id = raw.get("id")
    if not isinstance(form_id, str) or not form_id:
        problems.append("the form has no id")
        form_id = ""
    components = raw.get("components")
    if not isinstance(components, list):
        problems.append(f"form '{form_id}': 'components' must be a list")
        components = []
    builder = _Builder(form_id, problems, option_sources, reserved)
    fields = builder.components(components, depth=0)
    return FormSchema(form_id=form_id, raw=raw, fields=fields)


class _Builder:
    """Turns components into Fields, collecting problems instead of stopping at the first."""

    def __init__(self, form_id: str, problems: list[str], option_sources: set[str] | None,
                 reserved: frozenset[str]) -> None:
        self.form_id = form_id
        self.problems = problems
        self.option_sources = option_sources
        self.reserved = reserved
        self.seen_paths: set[tuple[str, ...]] = set()
        self.count = 0

    def problem(self, component: dict[str, Any], message: str) -> None:
        name = component.get("key") or component.get("path") or component.get("id") or component.get("type")
        self.problems.append(f"form '{self.form_id}', field '{name}': {message}")

    def components(self, components: list[Any], depth: int, scope: tuple[str, ...] = ()) -> list[Field]:
        fields: list[Field] = []
        if depth > 6:
            self.problems.append(f"form '{self.form_id}': groups are nested too deeply")
            return fields
        for component in components:
            self.count += 1
            if self.count > 500:
                self.problems.append(f"form '{self.form_id}': more than 500 components")
                break
            if not isinstance(component, dict):
                self.problems.append(f"form '{self.form_id}': a component is not an object")
                continue
            built = self.component(component, depth, scope)
            if built is not None:
                fields.append(built)
        return fields

    def component(self, component: dict[str, Any], depth: int, scope: tuple[str, ...]) -> Field | None:
        kind = component.get("type")
        if kind in REFUSED_TYPES:
            self.problem(component, REFUSED_TYPES[str(kind)])
            return None
        if kind not in VALUE_TYPES | DISPLAY_TYPES | CONTAINER_TYPES:
            self.problem(component, f"unknown component type '{kind}'")
            return None
        path: tuple[str, ...] = ()
        if kind in VALUE_TYPES:
            path = self.path_of(component, "key", required=True)
        elif kind in CONTAINER_TYPES:
            path = self.path_of(component, "path", required=kind == "dynamiclist")
        result = Field(raw=component, path=path)
        result.hide = self.feel_of(component, (component.get("conditional") or {}).get("hide"), "conditional.hide")
        readonly = component.get("readonly", False)
        if feel.is_expression(readonly):
            result.readonly = self.feel_of(component, readonly, "readonly") or False
        elif isinstance(readonly, bool):
            result.readonly = readonly
        else:
            self.problem(component, "'readonly' must be true, false or an expression")
        if "disabled" in component and not isinstance(component["disabled"], bool):
            self.problem(component, "'disabled' must be true or false")
        if kind == "expression":
            result.expression = self.feel_of(component, component.get("expression"), "expression")
            if result.expression is None:
                self.problem(component, "an expression field needs an expression")
        result.validate = self.validate_of(component)
        if kind in OPTION_TYPES:
            self.check_options(component)
        if kind == "dynamiclist" and component.get("isRepeating") is False:
            self.problem(component, "a dynamic list must repeat")
        if kind in CONTAINER_TYPES:
            inner = () if kind == "dynamiclist" else scope + path
            if kind == "dynamiclist":
                saved = self.seen_paths
                self.seen_paths = set()
                result.children = self.components(component.get("components") or [], depth + 1, inner)
                self.seen_paths = saved
            else:
                result.children = self.components(component.get("components") or [], depth + 1, inner)
        return result

    def path_of(self, component: dict[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
        value = component.get(name)
        if value in (None, "") and not required:
            return ()
        if not isinstance(value, str):
            self.problem(component, f"needs a '{name}'")
            return ()
        segments = tuple(value.split("."))
        if not all(_KEY_SEGMENT.match(segment) for segment in segments):
            self.problem(component, f"'{value}' is not a valid {name}: letters, digits and _, starting with a letter")
            return ()
        if segments[0] in self.reserved:
            self.problem(component, f"'{segments[0]}' is a reserved name in diagram expressions; choose another")
        if segments in self.seen_paths:
            self.problem(component, f"'{value}' is used by two fields")
        self.seen_paths.add(segments)
        return segments

    def feel_of(self, component: dict[str, Any], value: Any, what: str) -> feel.Expression | None:
        if value in (None, "", False):
            return None
        if not feel.is_expression(value):
            if what == "expression":
                self.problem(component, f"{what} must start with '='")
            elif value is True and what == "conditional.hide":
                return feel.parse("=true")
            return None
        try:
            return feel.parse(value)
        except feel.FeelError as exc:
            self.problem(component, f"{what}: {exc}")
            return None

    def validate_of(self, component: dict[str, Any]) -> dict[str, Any]:
        validate = component.get("validate") or {}
        if not isinstance(validate, dict):
            self.problem(component, "'validate' must be an object")
            return {}
        result: dict[str, Any] = {}
        for name, value in validate.items():
            if feel.is_expression(value):
                result[name] = self.feel_of(component, value, f"validate.{name}")
            elif name == "pattern":
                try:
                    result[name] = regex.compile(str(value))
                except regex.error as exc:
                    self.problem(component, f"the pattern does not compile: {exc}")
            elif name in ("min", "max", "minLength", "maxLength"):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.problem(component, f"validate.{name} must be a number")
                else:
                    result[name] = value
            elif name in ("required", "validationType", "patternErrorMessage"):
                result[name] = value
        return result

    def check_options(self, component: dict[str, Any]) -> None:
        key, values = component.get("valuesKey"), component.get("values")
        if component.get("valuesExpression"):
            self.problem(component, "options from an expression are not supported; use values or an option source")
        elif isinstance(key, str):
            source = key.removeprefix(OPTIONS_PREFIX)
            if not key.startswith(OPTIONS_PREFIX):
                self.problem(component, f"valuesKey must name an option source as '{OPTIONS_PREFIX}<name>'")
            elif self.option_sources is not None and not _known_source(source, self.option_sources):
                self.problem(component, f"there is no option source '{source}'")
        elif not isinstance(values, list) or not values:
            self.problem(component, "needs a list of values or an option source")


def _known_source(source: str, known: set[str]) -> bool:
    """Whether `source` is a known option source; a known name ending in ".*" takes any suffix."""
    return source in known or any(source.startswith(name[:-1]) for name in known if name.endswith(".*"))


__all__ = ["Field", "FormInvalid", "FormSchema", "check_form"]
