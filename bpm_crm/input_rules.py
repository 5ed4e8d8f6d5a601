"""What raw input must be wherever it arrives (paths, query strings, forms, JSON): record ids and storable text."""
from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(value: Any) -> int | None:
    """The record id `value` names (an int, or ASCII digits), or None: anything else, or outside 1…MAX_ID."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        # str.isdigit() also accepts "²" and "٣", which int() refuses or reads as another number.
        if not text or len(text) > _MAX_ID_DIGITS or not text.isascii() or not text.isdigit():
            return None
        number = int(text)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def coerce_id(value: Any) -> int | None:
    """A form select's value as a record id: empty is None; anything but an id is a ValueError (a field error)."""
    if value in (None, "", "None"):
        return None
    number = parse_id(value)
    if number is None:
        raise ValueError(value)
    return number


class IdConverter(BaseConverter):
    """`<id:name>` in a route: a record id; a number outside the column becomes 0, which no record has (404)."""

    regex = r"[0-9]{1,30}"
    weight = 50

    def to_python(self, value: str) -> int:
        # Not a ValidationError: werkzeug would answer 405 when the same path has routes for other methods.
        return parse_id(value) or 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


def storable(text: str) -> bool:
    """Whether the database can keep this text: no lone surrogate (not Unicode) and no NUL character."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
