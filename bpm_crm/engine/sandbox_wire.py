"""The JSON lines exchanged with sandbox workers, and how task-data values are written into them.

JSON types travel as they are; tuples, sets, dicts with keys other than text, dates, times and Decimals
travel as one-key objects tagged with '$' (a dict that looks like a tag travels as '$dict' pairs); dict
views travel as lists, and other types not at all.
Decoding builds only these types, never pickles, and refuses sets and dicts whose keys collide on purpose:
a reply comes from a process that runs hostile code.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, ItemsView, KeysView, Mapping, ValuesView
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DEPTH = 100  # nesting of one value; deeper data is refused rather than risking the recursion limit
MAX_INT_BITS = 14_000  # Python refuses to read or write integers over 4,300 digits (about 14,284 bits)
MAX_SAME_HASH = 16  # keys of one set or dict that may share a hash before it counts as a collision attack
_PLAIN = (str, float, bool, type(None))


class WireError(ValueError):
    """A value cannot be written to, or read from, a worker message; the message names what is wrong."""


def to_wire(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready data, with tags for the non-JSON types listed in the module docstring."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        if value.bit_length() > MAX_INT_BITS:
            raise WireError(f"a number over {MAX_INT_BITS:,} bits")
        return value
    if depth >= MAX_DEPTH:
        raise WireError(f"nesting over {MAX_DEPTH} levels")
    depth += 1
    if kind is list:
        return [to_wire(item, depth) for item in value]
    if kind is dict:
        return _dict_to_wire(value, depth)
    if kind is tuple:
        return {"$tuple": [to_wire(item, depth) for item in value]}
    if kind is set or kind is frozenset:
        # Checked here too, so the reader's refusal comes with a message rather than a killed worker.
        return {"$" + kind.__name__: [to_wire(item, depth) for item in _spread(list(value))]}
    return _other_to_wire(value, depth)


def _dict_to_wire(value: dict[Any, Any], depth: int) -> Any:
    if all(type(key) is str for key in value) and not (len(value) == 1 and next(iter(value)).startswith("$")):
        return {key: to_wire(item, depth) for key, item in value.items()}
    _spread(list(value))
    return {"$dict": [[to_wire(key, depth), to_wire(item, depth)] for key, item in value.items()]}


def _other_to_wire(value: Any, depth: int) -> Any:
    # Subclasses (an OrderedDict, an IntEnum, the engine's clocked datetime) travel as their base type.
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, int):
        return to_wire(int.__index__(value), depth)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (KeysView, ValuesView, ItemsView)):
        return to_wire(list(value), depth - 1)  # `thresholds.keys()` comes back as a list
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        base = next(kind for kind in (list, tuple, dict, set, frozenset) if isinstance(value, kind))
        return to_wire(base(value), depth - 1)
    raise WireError(f"a {type(value).__name__} value")


def pack_variables(data: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Task data as wire values, and the names (with their type) of variables that cannot travel."""
    packed: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for name, value in data.items():
        # Code can only name identifiers, and never one starting with '_'.
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            continue
        try:
            packed[name] = to_wire(value)
        except (WireError, RecursionError):
            unreadable[name] = type(value).__name__
    return packed, unreadable


def _spread(keys: list[Any]) -> list[Any]:
    # Full-hash collisions (ints chosen as multiples of 2**61 - 1, tuples of them) make building a set
    # or dict quadratic; counting hashes first is linear, because equal hash values are equal keys.
    try:
        counts = Counter(map(hash, keys))
    except TypeError as exc:
        raise WireError(f"a key that cannot be hashed ({exc})") from None
    if counts and max(counts.values()) > MAX_SAME_HASH:
        raise WireError("keys chosen to share one hash value")
    return keys


def _pairs(payload: Any) -> dict[Any, Any]:
    if not isinstance(payload, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in payload):
        raise WireError("malformed $dict")
    _spread([key for key, _ in payload])
    return {key: item for key, item in payload}


def _decimal(payload: Any) -> Decimal:
    try:
        number = Decimal(payload) if isinstance(payload, str) and len(payload) <= 100 else None
    except InvalidOperation:
        number = None
    # A huge exponent is cheap to hold and ruinous to print or convert.
    if number is None or (number.is_finite() and abs(number.adjusted()) > 1000):
        raise WireError("malformed $decimal")
    return number


def _text(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode(payload: Any) -> Any:
        if not isinstance(payload, str) or len(payload) > 64:
            raise WireError("malformed date or time")
        return parse(payload)

    return decode


def _collection(build: Callable[[list[Any]], Any], hashed: bool) -> Callable[[Any], Any]:
    def decode(payload: Any) -> Any:
        if not isinstance(payload, list):
            raise WireError("malformed collection")
        return build(_spread(payload) if hashed else payload)

    return decode


def _duration(payload: Any) -> timedelta:
    if not isinstance(payload, list) or len(payload) != 3 or not all(type(part) is int for part in payload):
        raise WireError("malformed $timedelta")
    return timedelta(days=payload[0], seconds=payload[1], microseconds=payload[2])


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$tuple": _collection(tuple, hashed=False),
    "$set": _collection(set, hashed=True),
    "$frozenset": _collection(frozenset, hashed=True),
    "$dict": _pairs,
    "$datetime": _text(datetime.fromisoformat),
    "$date": _text(date.fromisoformat),
    "$time": _text(time.fromisoformat),
    "$timedelta": _duration,
    "$decimal": _decimal,
}


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    key = next(iter(obj))
    if not key.startswith("$"):
        return obj
    decoder = _DECODERS.get(key)
    if decoder is None:
        raise WireError(f"unknown tag {key[:20]!r}")
    return decoder(obj[key])


def dumps(message: dict[str, Any]) -> bytes:
    """One message as a line of UTF-8 JSON (values already passed through to_wire)."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    # Lone surrogates are valid in a Python str; they must survive the trip.
    return text.encode("utf-8", "surrogatepass") + b"\n"


def loads(line: bytes) -> Any:
    """A message read back from a line, tags decoded; WireError if it is not one."""
    try:
        return json.loads(line.decode("utf-8", "surrogatepass"), object_hook=_untag)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise WireError(f"unreadable message: {type(exc).__name__}") from None
