"""A task form's submission checked on the server by the rules of its definition (FormSchema.clean).

Required, types, lengths, ranges, patterns, allowed option values, repeating rows, hidden
(`conditional.hide`) and read-only fields, the FEEL conditions the form shows — and unknown fields
refused; errors are collected per field path ("plan_items.1.date").
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from bpm_crm.errors import Invalid
from bpm_crm.forms import feel
from bpm_crm.forms.fields import MULTI_TYPES, OPTION_TYPES, Field, flat
from bpm_crm.i18n import _

MAX_ROWS = 200
MAX_TEXT = 2000
MAX_LONG_TEXT = 10_000
MAX_SUBMISSION_CHARS = 256 * 1024
PATTERN_TIMEOUT = 0.05  # seconds a process owner's pattern may take on one value
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?$")
_EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_PHONE = re.compile(r"^(\+|00)\d{6,20}$")


def clean(fields: list[Field], submitted: Any, *, initial: Mapping[str, Any],
          options: Mapping[str, list[dict[str, Any]]], final: bool, today: date) -> dict[str, Any]:
    """The variables a submission gives the process, or Invalid with a message per field path."""
    if not isinstance(submitted, dict):
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("应为对象"))]})
    try:
        size = len(json.dumps(submitted, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        raise Invalid(str(_("请更正标出的字段")), {"data": [str(_("内容无法识别"))]}) from None
    if size > MAX_SUBMISSION_CHARS:
        raise Invalid(str(_("提交的内容过大")), {"data": [str(_("提交的内容过大"))]})
    cleaner = _Cleaner(options=options, final=final, today=today)
    result = cleaner.scope(fields, submitted, dict(initial), prefix=(), context_root=None,
                           parent=None, indexes=())
    if cleaner.errors:
        raise Invalid(str(_("请更正标出的字段")), cleaner.errors)
    return result


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
        for one in flat(fields):
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
