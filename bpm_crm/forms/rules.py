"""A record's per-field rules, stated once: the page form, the service's check and the API schema derive from them.

A declaration (`RecordRules`) lists each field with its kind, label, required message, length, pattern, choices
or range. `check` reads submitted values by it (services); `record_form.record_form` builds the Flask-WTF form
(pages) and `json_schema.json_schema` the OpenAPI input schema (API). Rules that need the database or other
fields — the customer must be one you may update, a contact belongs to the chosen customer, a date not after
today — stay in the services.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id

Kind = Literal["text", "choice", "date", "id", "integer", "decimal"]
Widget = Literal["input", "textarea", "select", "date", "number"]


def N_(message: str) -> str:
    """Marks a message for the catalog without translating it: it is translated where it is shown."""
    return message


INVALID = N_("请更正标出的字段")
NOT_TEXT = N_("应为文本")
BAD_DATE = N_("日期格式应为 YYYY-MM-DD")
BAD_ID = N_("应为记录编号（整数）")
PHONE = r"^[0-9+\-() ]{5,40}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_WHOLE = re.compile(r"^[+-]?[0-9]{1,18}$")


@dataclass(frozen=True)
class FieldRule:
    """What one field accepts. Messages are catalog msgids, translated where they are shown."""

    name: str
    label: Any  # lazily translated text: the page renders it in the reader's language
    kind: Kind
    widget: Widget
    required: str | None = None  # the message when it is missing; None: optional
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    format: str | None = None  # the JSON schema format, e.g. email
    options: tuple[tuple[str, Any], ...] = ()  # fixed choices: (value, label)
    source: str | None = None  # choices that are data (a dictionary type): the service passes them to `check`
    choice_message: str | None = None
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    range_message: str | None = None
    number_message: str | None = None  # a decimal that is no number at all
    places: int = 2
    exact_places: bool = False  # refuse more places (a price) rather than round to them (an estimate)
    default: int | Decimal | None = None  # the value when none is given (optional fields only)
    description: str | None = None  # for the API document

    @property
    def values(self) -> list[str]:
        """The allowed values of a choice with fixed options."""
        return [value for value, _label in self.options]


@dataclass(frozen=True)
class RecordRules:
    """The fields of one record type, in the order of its form."""

    name: str
    fields: tuple[FieldRule, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[FieldRule]:
        return iter(self.fields)

    def __getitem__(self, name: str) -> FieldRule:
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.fields)


def record(name: str, *rules: FieldRule) -> RecordRules:
    """A record's declaration: its name and its field rules in form order."""
    return RecordRules(name, tuple(rules))


def text(name: str, label: Any, max_length: int, *, required: str | None = None, multiline: bool = False,
         description: str | None = None) -> FieldRule:
    """Free text up to `max_length` characters (trimmed; empty is None)."""
    return FieldRule(name, label, "text", "textarea" if multiline else "input", required=required,
                     max_length=max_length, description=description)


def matching(name: str, label: Any, max_length: int, pattern: str, message: str, *, required: str | None = None,
             format: str | None = None) -> FieldRule:
    """Text that must match `pattern`; `message` says what is wrong."""
    return FieldRule(name, label, "text", "input", required=required, max_length=max_length, pattern=pattern,
                     pattern_message=message, format=format)


def phone(name: str, label: Any, *, required: str | None = None) -> FieldRule:
    """A telephone or fax number: digits, spaces, + - ( ), 5 to 40 characters."""
    return matching(name, label, 40, PHONE, N_("电话号码格式不正确"), required=required)


MOBILE_MESSAGE = N_("手机号码应为11位中国大陆手机号，如 13800138000")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def chinese_mobile(value: Any) -> str | None:
    """A Chinese mainland mobile number as its 11 digits ("+86 139-0000-0001" → "13900000001"); None when empty.

    ValueError (MOBILE_MESSAGE) when it is not one: SMS gateways take the 11 digits.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(MOBILE_MESSAGE)
    digits = re.sub(r"[\s\-()]", "", value)
    digits = re.sub(r"^(?:\+86|0086|86)(?=\d{11}$)", "", digits)
    if not _MOBILE.fullmatch(digits):
        raise ValueError(MOBILE_MESSAGE)
    return digits


def email(name: str, label: Any, *, required: str | None = None) -> FieldRule:
    """An e-mail address of at most 120 characters."""
    return matching(name, label, 120, EMAIL, N_("电子邮箱格式不正确"), required=required, format="email")


def choice(name: str, label: Any, message: str, *, options: Mapping[str, Any] | None = None,
           source: str | None = None, required: str | None = None, description: str | None = None) -> FieldRule:
    """One of fixed `options` (value → label) or of the values the data `source` names."""
    return FieldRule(name, label, "choice", "select", required=required, options=tuple((options or {}).items()),
                     source=source, choice_message=message, description=description)


def day(name: str, label: Any, *, required: str | None = None, description: str | None = None) -> FieldRule:
    """A date: a date object or YYYY-MM-DD text."""
    return FieldRule(name, label, "date", "date", required=required, description=description)


def record_id(name: str, label: Any, *, required: str | None = None, description: str | None = None) -> FieldRule:
    """The id of another record (chosen in a select on the page): a number or digits."""
    return FieldRule(name, label, "id", "select", required=required, description=description)


def integer(name: str, label: Any, minimum: int, maximum: int, message: str, *, required: str | None = None,
            select: bool = False) -> FieldRule:
    """A whole number from `minimum` to `maximum`; `message` for anything else."""
    return FieldRule(name, label, "integer", "select" if select else "number", required=required, minimum=minimum,
                     maximum=maximum, range_message=message)


def decimal(name: str, label: Any, minimum: Decimal, maximum: Decimal, message: str, *, not_number: str,
            required: str | None = None, exact_places: bool = False, default: Decimal | None = None,
            description: str | None = None) -> FieldRule:
    """An amount from `minimum` to `maximum` to two places (rounded, or refused with `exact_places`)."""
    return FieldRule(name, label, "decimal", "number", required=required, minimum=minimum, maximum=maximum,
                     range_message=message, number_message=not_number, exact_places=exact_places,
                     default=default, description=description)


class FieldProblem(ValueError):
    """A value the field's rule refuses, with the message to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def too_long(count: int) -> str:
    """The message for text over `count` characters, translated now: the count is part of the text."""
    return str(_("最多 %(count)s 个字符", count=count))


def _missing(rule: FieldRule) -> Any:
    """Nothing was given: refused when the field is required, else its default (None unless declared)."""
    if rule.required:
        raise FieldProblem(rule.required)
    return rule.default


def _text(rule: FieldRule, raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise FieldProblem(NOT_TEXT)
    value = (raw or "").strip() or None
    if value is None:
        return _missing(rule)
    if rule.max_length is not None and len(value) > rule.max_length:
        raise FieldProblem(too_long(rule.max_length))
    if rule.pattern is not None and not re.match(rule.pattern, value):
        raise FieldProblem(rule.pattern_message or INVALID)
    return value


def _choice(rule: FieldRule, raw: Any, options: list[str] | None) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise FieldProblem(NOT_TEXT)
    value = (raw or "").strip() or None
    if value is None:
        return _missing(rule)
    # A data-sourced choice is checked against the values the service passes; without them only its presence is.
    allowed = rule.values if rule.source is None else options
    if allowed is not None and value not in allowed:
        raise FieldProblem(rule.choice_message or INVALID)
    return value


def _date(rule: FieldRule, raw: Any) -> date | None:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if raw is None or isinstance(raw, str) and not raw.strip():
        return _missing(rule)
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise FieldProblem(BAD_DATE) from None


def _id(rule: FieldRule, raw: Any) -> int | None:
    if raw is None or raw == "":
        return _missing(rule)
    value = parse_id(raw)
    if value is None:
        raise FieldProblem(BAD_ID)
    return value


def whole(raw: Any) -> int | None:
    """A whole number given as an int, an integral float or decimal, or digits; None otherwise."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if math.isfinite(raw) and raw.is_integer() else None
    if isinstance(raw, Decimal):
        return int(raw) if raw.is_finite() and raw == raw.to_integral_value() else None
    if isinstance(raw, str) and _WHOLE.match(raw.strip()):
        return int(raw.strip())
    return None


def _integer(rule: FieldRule, raw: Any) -> int | None:
    if raw is None or isinstance(raw, str) and not raw.strip():
        return _missing(rule)
    number = whole(raw)
    if number is None or rule.minimum is not None and number < rule.minimum \
            or rule.maximum is not None and number > rule.maximum:
        raise FieldProblem(rule.range_message or INVALID)
    return number


def _decimal(rule: FieldRule, raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, str) and not raw.strip():
        return _missing(rule)
    out_of_range = FieldProblem(rule.range_message or INVALID)
    if isinstance(raw, bool):
        raise out_of_range
    try:
        amount = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise FieldProblem(rule.number_message or INVALID) from None
    if not amount.is_finite() or rule.minimum is not None and amount < rule.minimum \
            or rule.maximum is not None and amount > rule.maximum:
        raise out_of_range
    rounded = amount.quantize(Decimal(1).scaleb(-rule.places))
    if rule.exact_places and rounded != amount:
        raise out_of_range
    return rounded


def read(rule: FieldRule, raw: Any, options: list[str] | None = None) -> Any:
    """The value `raw` stands for under the rule (text trimmed, empty as None); FieldProblem if it breaks it."""
    if rule.kind == "text":
        return _text(rule, raw)
    if rule.kind == "choice":
        return _choice(rule, raw, options)
    if rule.kind == "date":
        return _date(rule, raw)
    if rule.kind == "id":
        return _id(rule, raw)
    if rule.kind == "integer":
        return _integer(rule, raw)
    return _decimal(rule, raw)


@dataclass
class Checked:
    """Values read by their rules, and a message per field that broke its rule."""

    values: dict[str, Any]
    errors: dict[str, list[str]]

    def fail(self, name: str, message: str) -> None:
        """Add a service's own finding (a cross-field or database rule) to the field's messages."""
        self.errors.setdefault(name, []).append(message)
        self.values.pop(name, None)

    def done(self) -> dict[str, Any]:
        """The values; Invalid naming every failed field at once otherwise."""
        if self.errors:
            raise Invalid(INVALID, self.errors)
        return self.values


def read_all(values: Mapping[str, Any], rules: RecordRules, *, partial: bool = False,
             options: Mapping[str, list[str]] | None = None) -> Checked:
    """Read every declared field (with `partial`, only those given); `options` are the choices of data sources."""
    checked = Checked({}, {})
    for rule in rules:
        if partial and rule.name not in values:
            continue
        allowed = None
        if rule.source is not None:
            allowed = (options or {})[rule.name]  # a data-sourced choice cannot be checked without its values
        try:
            checked.values[rule.name] = read(rule, values.get(rule.name), allowed)
        except FieldProblem as problem:
            checked.errors[rule.name] = [problem.message]
    return checked


def check(values: Mapping[str, Any], rules: RecordRules, *, partial: bool = False,
          options: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The declared fields read by their rules; Invalid with a message per bad field otherwise."""
    return read_all(values, rules, partial=partial, options=options).done()
