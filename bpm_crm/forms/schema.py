"""Task forms as data: form-js definitions, checked when deployed and enforced on every submission.

A user task names a form (the `form` property in the diagram); the form is a form-js JSON
definition deployed with the diagram. The browser renders it with the form-js viewer; this
module reads the same definition on the server:

- `check_form` lists what is wrong with a definition before it is deployed (unknown
  component types, duplicate or reserved keys, FEEL outside the supported subset, patterns
  that do not compile, option sources that do not exist);
- `FormSchema.clean` turns a submission into the task's variables or raises Invalid with a
  message per field path ("plan_items.1.date"), applying exactly the rules the browser
  applies: required, types, lengths, ranges, patterns, allowed option values, repeating
  rows, hidden (`conditional.hide`) and read-only fields — and refusing unknown fields.

No database here: option lists arrive resolved (`options`), and the data the form was
opened with (`initial`) comes from the process, never from the client.
"""
from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import regex

from bpm_crm.errors import Invalid
from bpm_crm.forms import feel
from bpm_crm.i18n import _

OPTIONS_PREFIX = "options."
MAX_ROWS = 200
MAX_TEXT = 2000
MAX_LONG_TEXT = 10_000
MAX_SUBMISSION_CHARS = 256 * 1024
PATTERN_TIMEOUT = 0.05  # seconds a process owner's pattern may take on one value

VALUE_TYPES = frozenset({"textfield", "textarea", "number", "checkbox", "radio", "select", "checklist", "taglist",
                         "datetime", "expression"})
DISPLAY_TYPES = frozenset({"text", "html", "separator", "spacer", "image", "table"})
CONTAINER_TYPES = frozenset({"group", "dynamiclist"})
REFUSED_TYPES = {
    "filepicker": "file uploads in task forms are not supported yet; attach files to the record instead",
    "iframe": "embedded pages are not allowed in task forms",
    "button": "the task page has its own submit button; remove the form's buttons",
    "documentPreview": "document previews are not supported in task forms",
}
OPTION_TYPES = frozenset({"radio", "select", "checklist", "taglist"})
MULTI_TYPES = frozenset({"checklist", "taglist"})
_KEY_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?$")
_EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_PHONE = re.compile(r"^(\+|00)\d{6,20}$")
FEEL_PROPERTIES = ("readonly",)  # besides conditional.hide, expression and validate.*


class FormInvalid(ValueError):
    """A form definition that must not be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


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
        for one in _flat(self.fields):  # fields inside repeated rows are read through their list
            if one.path and (one.keyed or one.type in CONTAINER_TYPES):
                names.add(one.path[0])
        return names

    def clean(self, submitted: Any, *, initial: Mapping[str, Any],
              options: Mapping[str, list[dict[str, Any]]], final: bool = True,
              today: date | None = None) -> dict[str, Any]:
        """The variables a submission gives the process, or Invalid with a message per field path."""
        if not isinstance(submitted, dict):
            raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("应为对象"))]})
        try:
            size = len(json.dumps(submitted, ensure_ascii=False))
        except (TypeError, ValueError, RecursionError):
            raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("内容无法识别"))]}) from None
        if size > MAX_SUBMISSION_CHARS:
            raise Invalid(str(_("提交的内容过大")), {"data": [str(_("提交的内容过大"))]})
        cleaner = _Cleaner(options=options, final=final, today=today or date.today())
        result = cleaner.scope(self.fields, submitted, dict(initial), prefix=(), context_root=None,
                               parent=None, indexes=())
        if cleaner.errors:
            raise Invalid(str(_("请更正标出的字段")), cleaner.errors)
        return result


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


@dataclass
class _Cleaner:
    """One submission's walk over the form, collecting errors per field path."""

    options: Mapping[str, list[dict[str, Any]]]
    final: bool
    today: date
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, where: tuple[str | int, ...], message: Any) -> None:
        self.errors.setdefault(".".join(str(part) for part in where), []).append(str(message))

    def scope(self, fields: list[Field], submitted: dict[str, Any], initial: dict[str, Any], *,
              prefix: tuple[str | int, ...], context_root: dict[str, Any] | None,
              parent: dict[str, Any] | None, indexes: tuple[int, ...], fixed: bool = False) -> dict[str, Any]:
        """Clean the fields of the form or of one row; `submitted`/`initial` are that scope's data."""
        known = self._keys(fields)
        for name in submitted:
            if name in known:
                continue
            if fixed and name in initial:
                # A fixed row may echo what the server gave it (its id); changing it is refused.
                if submitted[name] != initial[name]:
                    self.error(prefix + (str(name),), _("此项不可修改"))
                continue
            self.error(prefix + (str(name),), _("表单中没有此字段"))
        values = self._coerce_all(fields, submitted, initial, prefix)
        root = {**initial, **values} if context_root is None else context_root
        this = {**initial, **values}
        context = {**root, "this": this, "parent": parent, "i": [i + 1 for i in indexes]}
        result: dict[str, Any] = {}
        self._apply(fields, submitted, initial, values, context, result, prefix, root, indexes, hidden=False)
        return result

    def _keys(self, fields: list[Field]) -> set[str]:
        names: set[str] = set()
        for one in fields:
            if one.path:
                names.add(one.path[0])
            if one.type == "group" and not one.path:
                names |= self._keys(one.children)
        return names

    def _coerce_all(self, fields: list[Field], submitted: dict[str, Any], initial: dict[str, Any],
                    prefix: tuple[str | int, ...]) -> dict[str, Any]:
        """Typed values of the scope's plain fields, for conditions to read (errors come later)."""
        values: dict[str, Any] = {}
        for one in _flat(fields):
            if one.keyed and one.type != "expression":
                if _is_readonly(one, initial):
                    _set(values, one.path, _get(initial, one.path))
                    continue
                raw = _get(submitted, one.path)
                typed, _problem = _coerce(one, raw)
                _set(values, one.path, typed if _problem is None else raw)
        return values

    def _apply(self, fields: list[Field], submitted: dict[str, Any], initial: dict[str, Any],
               values: dict[str, Any], context: dict[str, Any], result: dict[str, Any],
               prefix: tuple[str | int, ...], root: dict[str, Any], indexes: tuple[int, ...],
               hidden: bool) -> None:
        for one in fields:
            is_hidden = hidden or (one.hide is not None and one.hide.is_true(context))
            if one.type == "group":
                self._apply(one.children, submitted, initial, values, context, result, prefix, root, indexes,
                            is_hidden)
                continue
            if is_hidden or one.raw.get("disabled") is True or not one.path:
                continue
            where = prefix + one.path
            if one.repeating:
                self._rows(one, submitted, initial, context, result, where, root, indexes)
                continue
            if one.type == "expression" and one.expression is not None:
                _set(result, one.path, _jsonable(one.expression.evaluate(context)))
                continue
            if _is_readonly(one, context):
                kept = _get(initial, one.path)
                if kept is not None:
                    _set(result, one.path, kept)
                continue
            value = self._value(one, _get(submitted, one.path), context, where)
            if value is not _SKIP:
                _set(result, one.path, value)

    def _rows(self, one: Field, submitted: dict[str, Any], initial: dict[str, Any], context: dict[str, Any],
              result: dict[str, Any], where: tuple[str | int, ...], root: dict[str, Any],
              indexes: tuple[int, ...]) -> None:
        rows = _get(submitted, one.path)
        before = _get(initial, one.path)
        before = before if isinstance(before, list) else []
        if rows is None:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            self.error(where, _("应为列表"))
            return
        fixed = one.raw.get("allowAddRemove") is False
        if fixed and len(rows) != len(before):
            self.error(where, _("不能增减此列表的行"))
            return
        if len(rows) > MAX_ROWS:
            self.error(where, _("最多 %(count)s 行", count=MAX_ROWS))
            return
        if self.final and one.validate.get("required") and not rows:
            self.error(where, _("至少需要一行"))
        cleaned_rows = []
        for index, row in enumerate(rows):
            base = before[index] if fixed and isinstance(before[index], dict) else {}
            cleaned = self.scope(one.children, row, base, prefix=where + (index,), context_root=root,
                                 parent=context.get("this"), indexes=indexes + (index,), fixed=fixed)
            # A fixed row keeps what the server gave it (ids, read-only columns); the user changes only its fields.
            cleaned_rows.append({**base, **cleaned} if fixed else cleaned)
        _set(result, one.path, cleaned_rows)

    def _value(self, one: Field, raw: Any, context: dict[str, Any], where: tuple[str | int, ...]) -> Any:
        validate = {name: (rule.evaluate(context) if isinstance(rule, feel.Expression) else rule)
                    for name, rule in one.validate.items()}
        value, problem = _coerce(one, raw)
        if problem is not None:
            self.error(where, problem)
            return _SKIP
        empty = value is None or value == "" or value == [] or (one.type == "checkbox" and value is False)
        if empty:
            if self.final and validate.get("required") is True:
                chosen = one.type in OPTION_TYPES or one.type == "checkbox"
                self.error(where, _("请选择%(label)s", label=one.label) if chosen else
                           _("请填写%(label)s", label=one.label))
            return value if value is not None else _SKIP
        problems = list(self._rules(one, value, validate))
        for message in problems:
            self.error(where, message)
        if one.type in OPTION_TYPES and not problems:
            allowed = [option.get("value") for option in one.options(self.options)]
            value = [_canonical(item, allowed) for item in value] if isinstance(value, list) \
                else _canonical(value, allowed)
        return value

    def _rules(self, one: Field, value: Any, validate: dict[str, Any]) -> Iterator[Any]:
        if isinstance(value, str):
            limit = MAX_LONG_TEXT if one.type == "textarea" else MAX_TEXT
            max_length = validate.get("maxLength")
            if isinstance(max_length, (int, float)):
                limit = min(limit, int(max_length))
            if len(value) > limit:
                yield _("最多 %(count)s 个字符", count=limit)
            min_length = validate.get("minLength")
            if isinstance(min_length, (int, float)) and len(value) < min_length:
                yield _("至少 %(count)s 个字符", count=int(min_length))
            pattern = validate.get("pattern")
            if pattern is not None and len(value) <= limit and not _matches(pattern, value):
                yield validate.get("patternErrorMessage") or _("格式不正确")
            kind = validate.get("validationType")
            if kind == "email" and not _EMAIL.match(value):
                yield _("邮箱格式不正确")
            if kind == "phone" and not _PHONE.match(value.replace(" ", "")):
                yield _("电话号码格式不正确")
        if one.type == "number":
            number = Decimal(str(value))
            low, high = validate.get("min"), validate.get("max")
            if _is_number(low) and number < Decimal(str(low)):
                yield _("不能小于 %(value)s", value=low)
            if _is_number(high) and number > Decimal(str(high)):
                yield _("不能大于 %(value)s", value=high)
        if one.type in OPTION_TYPES:
            allowed = [option.get("value") for option in one.options(self.options)]
            chosen = value if isinstance(value, list) else [value]
            if any(_canonical(item, allowed) is _SKIP for item in chosen):
                yield _("请从列表中选择")
        if one.type == "datetime" and one.raw.get("disallowPassedDates") and isinstance(value, str):
            if value[:10] < self.today.isoformat():
                yield _("不能早于今天")


_SKIP = object()


def _is_readonly(one: Field, context: dict[str, Any]) -> bool:
    return one.readonly.is_true(context) if isinstance(one.readonly, feel.Expression) else bool(one.readonly)


def _flat(fields: list[Field]) -> Iterator[Field]:
    """The fields of one scope, looking through path-less groups but not into repeating lists."""
    for one in fields:
        yield one
        if one.type == "group":
            yield from _flat(one.children)


def _coerce(one: Field, raw: Any) -> tuple[Any, Any]:
    """(typed value, None) or (None, message) for what a field of this type accepts."""
    if raw is None:
        return None, None
    kind = one.type
    if kind in ("textfield", "textarea"):
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            return None, _("应为文本")
        return (raw.strip() if isinstance(raw, str) else str(raw)), None
    if kind == "number":
        return _number(one, raw)
    if kind == "checkbox":
        return (raw, None) if isinstance(raw, bool) else (None, _("应为是或否"))
    if kind in MULTI_TYPES:
        if not isinstance(raw, list) or len(raw) > MAX_ROWS:
            return None, _("应为列表")
        return raw, None
    if kind in ("radio", "select"):
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return raw, None
        return None, _("请从列表中选择")
    if kind == "datetime":
        return _moment(one, raw)
    return raw, None


def _number(one: Field, raw: Any) -> tuple[Any, Any]:
    if raw == "":
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None, _("应为数字")
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None, _("应为数字")
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        return None, _("数值超出范围")
    digits = one.raw.get("decimalDigits")
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if isinstance(digits, int) and places > digits:
        return None, (_("应为整数") if digits == 0 else _("最多 %(count)s 位小数", count=digits))
    if one.raw.get("serializeToString"):
        return str(number), None
    return (int(number) if number == number.to_integral_value() else float(number)), None


def _moment(one: Field, raw: Any) -> tuple[Any, Any]:
    if raw == "":
        return None, None
    if not isinstance(raw, str):
        return None, _("日期格式应为 YYYY-MM-DD")
    subtype = one.raw.get("subtype", "date")
    try:
        if subtype == "date":
            if not _DATE.match(raw):
                raise ValueError
            date.fromisoformat(raw)
        elif subtype == "time":
            if not _TIME.match(raw):
                raise ValueError
            time.fromisoformat(raw[:5])
        else:
            datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None, {"date": _("日期格式应为 YYYY-MM-DD"), "time": _("时间格式应为 HH:MM")}.get(
            subtype, _("时间格式不正确"))
    return raw, None


def _matches(pattern: Any, value: str) -> bool:
    try:
        return pattern.search(value, timeout=PATTERN_TIMEOUT) is not None
    except TimeoutError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _canonical(value: Any, allowed: list[Any]) -> Any:
    """The option a submitted value picks — the same value, or its text as an HTML form sends it — else _SKIP."""
    for option in allowed:
        if value == option and (type(value) is type(option) or (_is_number(value) and _is_number(option))):
            return option
    for option in allowed:
        if isinstance(value, str) and not isinstance(option, bool) and value == str(option):
            return option
    return _SKIP


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value
