"""Run-time guards and the builtins diagram code may call: every C-level operation that could build
a huge value in one step is checked before it runs."""
from __future__ import annotations

import ast
import operator
import reprlib
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from typing import Any

from RestrictedPython import safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    raise_,
    safer_getattr,
)

from bpm_crm import clock
from bpm_crm.engine import workdays

MAX_RANGE = 1_000_000  # numbers in one range()
MAX_SIZE = 1_000_000  # items or characters one guarded operation may produce
MAX_INT_BITS = 10_000  # about 3,000 digits, well under Python's 4,300-digit str() limit
MAX_FORMAT_NUMBER = 1_000  # widths and precisions in f-strings, digits in round()
MAX_OUTPUT_CHARS = 10_000_000  # JSON-ish size of an expression's value or a script's new data


class SandboxTimeout(RuntimeError):
    """Sandboxed code ran past its time bound."""


class SandboxError(RuntimeError):
    """Sandboxed code failed at run time; the message says what went wrong in plain words."""


class Refused(Exception):
    """A guard refused an operation; becomes a SandboxError carrying the same message."""


brief = reprlib.Repr()
brief.maxstring = 60
brief.maxother = 60
brief.maxlist = brief.maxtuple = brief.maxdict = brief.maxset = 5
brief.maxlevel = 2


def _too_big(what: str, size: int | None = None) -> Refused:
    shown = f" ({size:,})" if size is not None and size.bit_length() < 64 else ""
    return Refused(f"{what} would be too large{shown}; the limit is {MAX_SIZE:,} items or characters")


def _check_size(size: int, what: str = "the result") -> None:
    if size > MAX_SIZE:
        raise _too_big(what, size)


# Reading back text sizes: str()/repr()/f-strings and the task data written back must not build
# gigantic strings from a small object that references one big value a million times.
SCALARS = (str, int, float, bool, type(None))
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_IN_PROGRESS = -2


def measure(value: Any, limit: int, strict: bool, memo: dict[int, int]) -> int:
    """Approximate length of value as text or JSON; past `limit` it stops counting, -1 = not JSON."""
    kind = type(value)
    if kind is str:
        return len(value) + 2
    if kind is bytes:
        return -1 if strict else len(value) + 3
    if kind is int:
        return value.bit_length() // 3 + 2
    if kind is float or kind is bool or value is None:
        return 8
    if kind in (list, tuple, dict) or (not strict and (kind in (set, frozenset) or kind in _VIEWS)):
        key = id(value)
        known = memo.get(key)
        if known == _IN_PROGRESS:
            return -1 if strict else 5
        if known is not None:
            return known
        memo[key] = _IN_PROGRESS
        total = 2
        if kind is dict:
            for name, item in value.items():
                if strict and not (name is None or type(name) in (str, int, float, bool)):
                    return -1
                name_size = measure(name, limit, strict, memo)
                item_size = measure(item, limit, strict, memo)
                if item_size < 0:
                    return -1
                total += name_size + item_size + 4
                if total > limit:
                    return total
        else:
            for item in value:
                item_size = measure(item, limit, strict, memo)
                if item_size < 0:
                    return -1
                total += item_size + 2
                if total > limit:
                    return total
        memo[key] = total
        return total
    return -1 if strict else 64


def check_text(value: Any) -> None:
    if type(value) in SCALARS:
        return
    try:
        size = measure(value, MAX_SIZE, False, {})
    except RecursionError:
        raise Refused("the value is nested too deeply to turn into text") from None
    if size > MAX_SIZE:
        raise Refused(f"the text would be longer than the limit of {MAX_SIZE:,} characters")


# Operator guards. The compiler rewrites `a * b`, `a ** b`, `a << b`, `a % b` and `a + b` into calls
# of these, because a single C-level operation cannot be interrupted by the time bound.
_REPEATABLE = (str, bytes, list, tuple)


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
    elif isinstance(b, int) and isinstance(a, _REPEATABLE):
        _check_size(len(a) * b)
    elif isinstance(a, int) and isinstance(b, _REPEATABLE):
        _check_size(len(b) * a)


def _mul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _imul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return operator.imul(a, b)


def _pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    if isinstance(base, int) and isinstance(exponent, int):
        if modulus is None:
            if exponent > 0 and abs(base) > 1 and base.bit_length() * exponent > MAX_INT_BITS:
                raise Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
        elif isinstance(modulus, int) and (
            exponent.bit_length() > MAX_INT_BITS or modulus.bit_length() > MAX_INT_BITS
        ):
            raise Refused(f"pow() with numbers over {MAX_INT_BITS:,} bits is not allowed")
    return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a and a.bit_length() + b > MAX_INT_BITS:
        raise Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
    return a << b


def _mod(a: Any, b: Any) -> Any:
    # %-formatting takes widths and precisions from its arguments ("%*d", "%.999999999f").
    if isinstance(a, (str, bytes)):
        raise Refused("'%' formatting of text is not available; use an f-string like f\"{amount:.2f}\"")
    return a % b


def _sized_result(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def guard(a: Any, b: Any) -> Any:
        result = op(a, b)
        # Concatenation at most doubles its inputs, so checking afterwards stops repeated doubling.
        if isinstance(result, _REPEATABLE) and len(result) > MAX_SIZE:
            raise _too_big("the result", len(result))
        return result

    return guard


_add = _sized_result(operator.add)
_iadd = _sized_result(operator.iadd)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _iadd,
    "-=": operator.isub,
    "*=": _imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": _mod,
    "**=": _pow,
    "<<=": _lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def _format_value(value: Any) -> Any:
    check_text(value)
    return value


# Methods that can build a value much larger than their inputs in one C call, or that put a
# repr() of their argument into an error message.
def _padding(name: str) -> Callable[..., Any]:
    def guard(self: str | bytes, width: Any, *args: Any) -> Any:
        if isinstance(width, int):
            _check_size(width)
        return getattr(self, name)(width, *args)

    return guard


def _expandtabs(self: str | bytes, tabsize: Any = 8) -> Any:
    tab = "\t" if isinstance(self, str) else b"\t"
    if isinstance(tabsize, int):
        _check_size(len(self) + self.count(tab) * max(tabsize, 0))  # type: ignore[arg-type]
    return self.expandtabs(tabsize)


def _replace(self: Any, old: Any, new: Any, count: Any = -1) -> Any:
    if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
        hits = self.count(old) if old else len(self) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        _check_size(len(self) + hits * (len(new) - len(old)))
    return self.replace(old, new, count)


def _join(self: Any, iterable: Any) -> Any:
    items = list(iterable)
    try:
        size = sum(map(len, items)) + len(self) * max(len(items) - 1, 0)
    except TypeError:
        size = 0  # not all text: join itself raises the proper error
    _check_size(size)
    return self.join(items)


def _extend(self: list[Any], iterable: Any) -> None:
    # l.extend(l) doubles a list inside one C call.
    if hasattr(iterable, "__len__"):
        _check_size(len(self) + len(iterable))
    self.extend(iterable)


class _ListWrites:
    """What `_write_` hands out for a list: `l[:0] = l` must not double it unchecked."""

    __slots__ = ("target",)

    def __init__(self, target: list[Any]) -> None:
        self.target = target

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice) and hasattr(value, "__len__"):
            _check_size(len(self.target) + len(value))
        self.target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self.target[key]


def _write(obj: Any) -> Any:
    return _ListWrites(obj) if type(obj) is list else full_write_guard(obj)


_TEXT_METHOD_GUARDS: dict[str, Callable[..., Any]] = {
    "center": _padding("center"),
    "ljust": _padding("ljust"),
    "rjust": _padding("rjust"),
    "zfill": _padding("zfill"),
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join,
}

_ARGUMENT_IN_ERROR = frozenset({"index", "remove"})

_REFUSED_ATTRIBUTES = {
    "translate": "str.translate() is not available",
    "to_bytes": "int.to_bytes() is not available",
    "mro": "type introspection is not available",
}

_MUTATORS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault",
    "popitem", "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update",
})
_MUTABLE = (list, dict, set)


def _make_getattr(read_only: bool) -> Callable[[Any, str], Any]:
    def guarded_getattr(obj: Any, name: str) -> Any:
        refusal = _REFUSED_ATTRIBUTES.get(name)
        if refusal is not None:
            raise Refused(refusal)
        # safer_getattr refuses '_' names, str.format and frame/code attributes.
        value = safer_getattr(obj, name, raise_)
        if read_only and name in _MUTATORS and isinstance(obj, _MUTABLE):
            raise Refused(f"an expression cannot change data ('.{name}()'); do that in a script task")
        if isinstance(obj, (str, bytes)):
            guard = _TEXT_METHOD_GUARDS.get(name)
            if guard is not None:
                return _bound(guard, obj)
        elif name == "extend" and type(obj) is list:
            return _bound(_extend, obj)
        if name in _ARGUMENT_IN_ERROR and callable(value):
            return _checked_argument(value)
        return value

    return guarded_getattr


def _bound(guard: Callable[..., Any], obj: Any) -> Callable[..., Any]:
    # A closure rather than functools.partial, whose .func and .args would be readable attributes.
    def call(*args: Any) -> Any:
        return guard(obj, *args)

    return call


def _checked_argument(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if args:
            check_text(args[0])
        return method(*args)

    return call


# Builtins and helpers offered to process owners.
def _range(*args: Any) -> range:
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise Refused(f"range() would have more than {MAX_RANGE:,} numbers")
    return numbers


def _sum(iterable: Any, /, start: Any = 0) -> Any:
    # sum() with a list start concatenates quadratically inside C, out of reach of the time bound.
    if not isinstance(start, (int, float)):
        raise Refused("sum() adds numbers only")
    return sum(iterable, start)


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) computes 10**(10**9) for ints.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_NUMBER:
        raise Refused(f"round() takes at most {MAX_FORMAT_NUMBER:,} digits")
    return round(number, ndigits)


def _str(*args: Any, **kwargs: Any) -> str:
    if len(args) == 1 and not kwargs:
        check_text(args[0])
    return str(*args, **kwargs)


def _repr(value: Any) -> str:
    check_text(value)
    return repr(value)


# The worker process runs with the caller's clock, so frozen test clocks and timers agree.
request_time: ContextVar[datetime | None] = ContextVar("request_time", default=None)


def _current_time() -> datetime:
    return request_time.get() or clock.now()


def _as_day(value: Any, func: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise Refused(f"{func}(): {brief.repr(value)} is not an ISO date like '2024-05-31'")


def today() -> str:
    """Today's date (UTC) as 'YYYY-MM-DD'."""
    return _current_time().date().isoformat()


def now() -> str:
    """The current time (UTC) as an ISO datetime with offset, to the second."""
    return _current_time().isoformat(timespec="seconds")


def date_add(iso_date: str, days: int) -> str:
    """The ISO date (or datetime) `days` days after `iso_date`; negative days go back."""
    if not isinstance(days, int) or isinstance(days, bool):
        raise Refused("date_add() needs a whole number of days")
    if isinstance(iso_date, str) and len(iso_date) > 10:
        try:
            moment = datetime.fromisoformat(iso_date)
        except ValueError:
            moment = None
        if moment is not None:
            return (moment + timedelta(days=days)).isoformat()
    return (_as_day(iso_date, "date_add") + timedelta(days=days)).isoformat()


def days_between(a: str, b: str) -> int:
    """Whole days from date `a` to date `b` (negative when b is earlier)."""
    return (_as_day(b, "days_between") - _as_day(a, "days_between")).days


def _moment(value: Any, func: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if len(value) > 10 else None
        except ValueError:
            moment = None
        if moment is None:
            day = _as_day(value, func)
            moment = datetime(day.year, day.month, day.day, tzinfo=workdays.ZONE)
        return moment if moment.tzinfo else moment.replace(tzinfo=workdays.ZONE)
    raise Refused(f"{func}(): {brief.repr(value)} is not an ISO date or time")


def workdays_after(moment: str, days: int) -> str:
    """The ISO moment `days` working days after `moment` (Chinese statutory holidays and 调休 respected)."""
    if not isinstance(days, int) or isinstance(days, bool) or abs(days) > workdays.MAX_DAYS:
        raise Refused(f"workdays_after() needs a whole number of days up to {workdays.MAX_DAYS:,}")
    return workdays.add_workdays(_moment(moment, "workdays_after"), days).isoformat(timespec="seconds")


def workhours_after(moment: str, hours: int | float) -> str:
    """The ISO moment `hours` working hours after `moment` (the working hours of a day the run was handed)."""
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not abs(hours) <= 24 * workdays.MAX_DAYS:
        raise Refused(f"workhours_after() needs a number of hours up to {24 * workdays.MAX_DAYS:,}")
    result = workdays.add_working_time(_moment(moment, "workhours_after"), timedelta(hours=hours),
                                       workdays.hours_in_effect())
    return result.isoformat(timespec="seconds")


def is_workday(day: str) -> bool:
    """Whether the ISO date is a working day on the Chinese calendar."""
    return workdays.is_workday(_as_day(day, "is_workday"))


def _build_builtins() -> dict[str, Any]:
    # Left out of RestrictedPython's safe set: classes (no class statements), reflective setattr /
    # delattr / isinstance / issubclass, id (addresses), complex, and the exception classes
    # (no try or raise). pow, range, round, repr and str are replaced by guarded versions.
    dropped = {
        "__build_class__", "_getattr_", "setattr", "delattr", "isinstance", "issubclass", "id", "complex",
    }
    names = {
        name: value
        for name, value in safe_builtins.items()
        if name not in dropped and not (isinstance(value, type) and issubclass(value, BaseException))
    }
    names.update(
        len=len, min=min, max=max, sum=_sum, abs=abs, round=_round, sorted=sorted, any=any, all=all,
        enumerate=enumerate, zip=zip, range=_range, list=list, dict=dict, set=set, tuple=tuple,
        str=_str, repr=_repr, int=int, float=float, bool=bool, pow=_pow,
        today=today, now=now, date_add=date_add, days_between=days_between,
        workdays_after=workdays_after, workhours_after=workhours_after, is_workday=is_workday,
    )
    return names


_BUILTINS = _build_builtins()


def _base_globals(read_only: bool) -> dict[str, Any]:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": _make_getattr(read_only),
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": _write,
        "_inplacevar_": _inplacevar,
        "_mul_": _mul,
        "_pow_": _pow,
        "_lshift_": _lshift,
        "_mod_": _mod,
        "_add_": _add,
        "_fmt_": _format_value,
    }


EVAL_GLOBALS = _base_globals(read_only=True)
EXEC_GLOBALS = _base_globals(read_only=False)

# Names of the guard functions the compiler substitutes for these operators.
BINOP_GUARDS: dict[type, str] = {
    ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_", ast.Add: "_add_",
}
