"""Restricted evaluation of the expressions and scripts process owners write into BPMN diagrams."""
from __future__ import annotations

import ast
import copy
import functools
import operator
import os
import re
import reprlib
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from RestrictedPython import RestrictingNodeTransformer, compile_restricted, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    raise_,
    safer_getattr,
)
from RestrictedPython.transformer import copy_locations

from bpm_crm import clock

MAX_RANGE = 1_000_000  # numbers in one range()
MAX_SIZE = 1_000_000  # items or characters one guarded operation may produce
MAX_INT_BITS = 10_000  # about 3,000 digits, well under Python's 4,300-digit str() limit
MAX_FORMAT_NUMBER = 1_000  # widths and precisions in f-strings, digits in round()
MAX_OUTPUT_CHARS = 10_000_000  # JSON-ish size of an expression's value or a script's new data
MAX_MEMORY_GROWTH = 256 * 1024 * 1024  # growth of the process's resident memory during one run

# Compiled code carries this filename; the tracer line-traces only frames that have it.
_FILENAME = "<bpmn>"
_Mode = Literal["eval", "exec"]
_MEMORY_PROBE_INTERVAL = 0.005


class UnsafeCode(ValueError):
    """Code the sandbox refuses to compile; .problems is a list of plain-language messages."""

    problems: list[str]

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles exceptions; rebuild from the list, not from the joined message.
        return (type(self), (self.problems,))


class SandboxTimeout(RuntimeError):
    """Sandboxed code ran past its time bound."""


class SandboxError(RuntimeError):
    """Sandboxed code failed at run time; the message says what went wrong in plain words."""


class _Refused(Exception):
    """A guard refused an operation; becomes a SandboxError carrying the same message."""


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 5
_short.maxlevel = 2


def _too_big(what: str, size: int | None = None) -> _Refused:
    shown = f" ({size:,})" if size is not None and size.bit_length() < 64 else ""
    return _Refused(f"{what} would be too large{shown}; the limit is {MAX_SIZE:,} items or characters")


def _check_size(size: int, what: str = "the result") -> None:
    if size > MAX_SIZE:
        raise _too_big(what, size)


# Reading back text sizes: str()/repr()/f-strings and the task data written back must not build
# gigantic strings from a small object that references one big value a million times.
_SCALARS = (str, int, float, bool, type(None))
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_IN_PROGRESS = -2


def _measure(value: Any, limit: int, strict: bool, memo: dict[int, int]) -> int:
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
                name_size = _measure(name, limit, strict, memo)
                item_size = _measure(item, limit, strict, memo)
                if item_size < 0:
                    return -1
                total += name_size + item_size + 4
                if total > limit:
                    return total
        else:
            for item in value:
                item_size = _measure(item, limit, strict, memo)
                if item_size < 0:
                    return -1
                total += item_size + 2
                if total > limit:
                    return total
        memo[key] = total
        return total
    return -1 if strict else 64


def _check_text(value: Any) -> None:
    if type(value) in _SCALARS:
        return
    try:
        size = _measure(value, MAX_SIZE, False, {})
    except RecursionError:
        raise _Refused("the value is nested too deeply to turn into text") from None
    if size > MAX_SIZE:
        raise _Refused(f"the text would be longer than the limit of {MAX_SIZE:,} characters")


# Operator guards. The compiler rewrites `a * b`, `a ** b`, `a << b`, `a % b` and `a + b` into calls
# of these, because a single C-level operation cannot be interrupted by the time bound.
_REPEATABLE = (str, bytes, list, tuple)


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
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
                raise _Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
        elif isinstance(modulus, int) and (
            exponent.bit_length() > MAX_INT_BITS or modulus.bit_length() > MAX_INT_BITS
        ):
            raise _Refused(f"pow() with numbers over {MAX_INT_BITS:,} bits is not allowed")
    return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a and a.bit_length() + b > MAX_INT_BITS:
        raise _Refused(f"the number would be too large (over {MAX_INT_BITS:,} bits)")
    return a << b


def _mod(a: Any, b: Any) -> Any:
    # %-formatting takes widths and precisions from its arguments ("%*d", "%.999999999f").
    if isinstance(a, (str, bytes)):
        raise _Refused("'%' formatting of text is not available; use an f-string like f\"{amount:.2f}\"")
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
    _check_text(value)
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
            raise _Refused(refusal)
        # safer_getattr refuses '_' names, str.format and frame/code attributes.
        value = safer_getattr(obj, name, raise_)
        if read_only and name in _MUTATORS and isinstance(obj, _MUTABLE):
            raise _Refused(f"an expression cannot change data ('.{name}()'); do that in a script task")
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
            _check_text(args[0])
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
        raise _Refused(f"range() would have more than {MAX_RANGE:,} numbers")
    return numbers


def _sum(iterable: Any, /, start: Any = 0) -> Any:
    # sum() with a list start concatenates quadratically inside C, out of reach of the time bound.
    if not isinstance(start, (int, float)):
        raise _Refused("sum() adds numbers only")
    return sum(iterable, start)


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) computes 10**(10**9) for ints.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_NUMBER:
        raise _Refused(f"round() takes at most {MAX_FORMAT_NUMBER:,} digits")
    return round(number, ndigits)


def _str(*args: Any, **kwargs: Any) -> str:
    if len(args) == 1 and not kwargs:
        _check_text(args[0])
    return str(*args, **kwargs)


def _repr(value: Any) -> str:
    _check_text(value)
    return repr(value)


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
    raise _Refused(f"{func}(): {_short.repr(value)} is not an ISO date like '2024-05-31'")


def today() -> str:
    """Today's date (UTC) as 'YYYY-MM-DD'."""
    return clock.now().date().isoformat()


def now() -> str:
    """The current time (UTC) as an ISO datetime with offset, to the second."""
    return clock.now().isoformat(timespec="seconds")


def date_add(iso_date: str, days: int) -> str:
    """The ISO date (or datetime) `days` days after `iso_date`; negative days go back."""
    if not isinstance(days, int) or isinstance(days, bool):
        raise _Refused("date_add() needs a whole number of days")
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


_EVAL_GLOBALS = _base_globals(read_only=True)
_EXEC_GLOBALS = _base_globals(read_only=False)
_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_", ast.Add: "_add_",
}


# Compile-time checks in plain words, before RestrictedPython's own policy. Only calls of these names
# are refused: none is a builtin here, so a bare name can only be task data (a record may have a 'type').
_FORBIDDEN_CALLS = frozenset({
    "exec", "eval", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "breakpoint", "input", "type", "super", "memoryview", "dir", "help", "exit", "quit", "object",
    "format", "iter", "next", "isinstance", "issubclass", "classmethod", "staticmethod", "property", "id",
})
_SCRIPT_STATEMENTS = (
    ast.Assign, ast.AugAssign, ast.Expr, ast.If, ast.For, ast.Pass, ast.Break, ast.Continue, ast.Delete,
)
_REJECTED_STATEMENTS: dict[type[ast.AST], str] = {
    ast.While: "'while' loops are not allowed; loop with 'for' over a list or range()",
    ast.FunctionDef: "'def' is not allowed; a lambda is fine",
    ast.AsyncFunctionDef: "async code is not allowed",
    ast.AsyncFor: "async code is not allowed",
    ast.AsyncWith: "async code is not allowed",
    ast.ClassDef: "'class' is not allowed",
    ast.Import: "imports are not allowed",
    ast.ImportFrom: "imports are not allowed",
    ast.Global: "'global' is not allowed",
    ast.Nonlocal: "'nonlocal' is not allowed",
    ast.Try: "'try' is not allowed; an error stops the task and is shown to the operator",
    ast.With: "'with' is not allowed",
    ast.Raise: "'raise' is not allowed",
    ast.Return: "'return' is not allowed",
    ast.Assert: "'assert' is not allowed; use an exclusive gateway to check conditions",
}
_REJECTED_STATEMENTS[ast.TryStar] = _REJECTED_STATEMENTS[ast.Try]
_NUMBER = re.compile(r"\d+")


class _Checker(ast.NodeVisitor):
    """Collects plain-language problems; a whitelist of statements, no '_' names, no reflection."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def report(self, node: ast.AST, message: str) -> None:
        text = f"line {getattr(node, 'lineno', 1)}: {message}"
        if text not in self.problems:
            self.problems.append(text)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and not isinstance(node, _SCRIPT_STATEMENTS):
            label = type(node).__name__.lower()
            self.report(node, _REJECTED_STATEMENTS.get(type(node), f"'{label}' statements are not allowed"))
            return
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_") and node.id != "_":
            self.report(node, f"the name '{node.id}' is not allowed (names must not start with '_')")
        elif node.id in ("print", "printed"):
            self.report(node, "print() is not available; assign the value to a variable instead")

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg.startswith("_") and node.arg != "_":
            self.report(node, f"the name '{node.arg}' is not allowed (names must not start with '_')")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self.report(
                node, f"the attribute '.{node.attr}' is not allowed (attributes must not start with '_')"
            )
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in _FORBIDDEN_CALLS:
            self.report(node, f"'{node.func.id}()' is not available in diagram code")
        if any(keyword.arg is None for keyword in node.keywords):
            self.report(node, "unpacking with '**' is not allowed")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        if any(key is None for key in node.keys):
            self.report(node, "unpacking with '**' is not allowed")
        self.generic_visit(node)

    def visit_Starred(self, node: ast.Starred) -> None:
        self.report(node, "unpacking with '*' is not allowed")

    def visit_Await(self, node: ast.Await) -> None:
        self.report(node, "async code is not allowed")

    def visit_Yield(self, node: ast.Yield) -> None:
        self.report(node, "'yield' is not allowed")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.report(node, "'yield' is not allowed")

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.report(node.target, "async code is not allowed")
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        spec = node.format_spec
        if isinstance(spec, ast.JoinedStr):
            for part in spec.values:
                if not isinstance(part, ast.Constant):
                    self.report(node, "a '{...}' inside a format specification is not allowed")
                elif any(int(number) > MAX_FORMAT_NUMBER for number in _NUMBER.findall(str(part.value))):
                    self.report(
                        node, f"a format width or precision above {MAX_FORMAT_NUMBER:,} is not allowed"
                    )
        self.visit(node.value)


class _Transformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus guard calls around operators and f-string values."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = self.node_contents_visit(node)
        call = ast.Call(func=ast.Name("_fmt_", ast.Load()), args=[node.value], keywords=[])
        copy_locations(call, node.value)
        node.value = call
        return node


def _parse(mode: _Mode, source: str) -> ast.Module | ast.Expression:
    if mode == "eval":
        text = source.strip()
        if not text:
            raise UnsafeCode(["the expression is empty"])
        try:
            return ast.parse(text, _FILENAME, "eval")
        except SyntaxError as exc:
            try:
                ast.parse(text, _FILENAME, "exec")
            except SyntaxError:
                raise UnsafeCode([f"line {exc.lineno}: syntax error: {exc.msg}"]) from None
            raise UnsafeCode([
                "line 1: a single expression is expected here (like amount > 1000), "
                "not a statement or several lines"
            ]) from None
    try:
        return ast.parse(textwrap.dedent(source), _FILENAME, "exec")
    except SyntaxError as exc:
        raise UnsafeCode([f"line {exc.lineno}: syntax error: {exc.msg}"]) from None


@functools.lru_cache(maxsize=4096)
def _compile(mode: _Mode, source: str) -> types.CodeType:
    if not isinstance(source, str):
        raise UnsafeCode(["the code is not text"])
    try:
        tree = _parse(mode, source)
        checker = _Checker()
        checker.visit(tree)
        if checker.problems:
            raise UnsafeCode(checker.problems)
        return compile_restricted(tree, _FILENAME, mode, policy=_Transformer)
    except SyntaxError as exc:
        # compile_restricted reports its policy violations as SyntaxError(list of "Line N: ...").
        errors = exc.args[0] if exc.args and isinstance(exc.args[0], (list, tuple)) else [str(exc)]
        raise UnsafeCode([re.sub(r"^Line ", "line ", str(error)) for error in errors]) from None
    except RecursionError:
        raise UnsafeCode(["the code is nested too deeply"]) from None


def check_expression(source: str) -> None:
    """Raise UnsafeCode unless `source` is a single expression the sandbox will run."""
    _compile("eval", source)


def check_script(source: str) -> None:
    """Raise UnsafeCode unless `source` is a script the sandbox will run."""
    _compile("exec", source)


def _resident_bytes() -> int | None:
    # A fresh open each time: an fd kept across a fork (Celery prefork) would read the parent.
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return None
    try:
        return int(os.read(fd, 128).split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(fd)


def _failed_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Refused):
        return str(exc)
    if isinstance(exc, NameError):
        name = getattr(exc, "name", None)
        return f"'{name}' is not defined (not in the task data)" if name else str(exc)
    if isinstance(exc, KeyError):
        return f"there is no key {_short.repr(exc.args[0]) if exc.args else ''}"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, RecursionError):
        return "too many nested calls"
    if isinstance(exc, MemoryError):
        return "ran out of memory"
    message = str(exc)
    if isinstance(exc, NotImplementedError) and "format" in message:
        return "str.format() is not available; use an f-string like f\"{name}: {amount}\""  # safer_getattr
    if isinstance(exc, AttributeError) and isinstance(getattr(exc, "obj", None), dict):
        message += " (read a key with ['name'])"
    message = message if len(message) <= 300 else message[:300] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _sanitise(exc: BaseException) -> None:
    # The original becomes __cause__; a KeyError holding a huge key would explode when logged.
    if any(not isinstance(arg, (str, int, float, type(None))) for arg in exc.args):
        exc.args = tuple(_short.repr(arg) for arg in exc.args)
    elif any(isinstance(arg, str) and len(arg) > 1000 for arg in exc.args):
        exc.args = tuple(arg[:1000] + "..." if isinstance(arg, str) else arg for arg in exc.args)


def _run(code: types.CodeType, env: dict[str, Any], timeout: float, mode: _Mode) -> Any:
    start = time.monotonic()
    deadline = start + timeout
    next_probe = start + _MEMORY_PROBE_INTERVAL
    baseline: int | None = None
    monotonic = time.monotonic

    def tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        nonlocal next_probe, baseline
        moment = monotonic()
        if moment > deadline:
            raise SandboxTimeout()
        if moment > next_probe:
            # The first probe sets the baseline, so short runs never pay for reading /proc.
            next_probe = moment + _MEMORY_PROBE_INTERVAL
            resident = _resident_bytes()
            if resident is not None:
                if baseline is None:
                    baseline = resident
                elif resident - baseline > MAX_MEMORY_GROWTH:
                    raise _Refused(f"the code used too much memory (over {MAX_MEMORY_GROWTH >> 20} MB)")
        # Line events only for diagram code; guards and helpers still get a check on every call.
        return tracer if frame.f_code.co_filename == _FILENAME else None

    failure: Exception | None = None
    result: Any = None
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        if mode == "eval":
            result = eval(code, env)  # noqa: S307 - RestrictedPython bytecode with guarded globals
        else:
            exec(code, env)  # noqa: S102 - RestrictedPython bytecode with guarded globals
    except Exception as exc:  # KeyboardInterrupt and SystemExit pass through untouched
        failure = exc
    finally:
        sys.settrace(previous)
    if failure is None:
        return result
    # The traceback keeps the frames, and through them env, alive for as long as the error lives.
    env.clear()
    line = _failed_line(failure) if mode == "exec" else None
    where = f"line {line}: " if line is not None else ""
    if isinstance(failure, SandboxTimeout):
        raise SandboxTimeout(f"{where}the code did not finish within {timeout:g} s") from None
    message = where + _describe(failure)
    _sanitise(failure)
    raise SandboxError(message) from failure


def evaluate(source: str, data: Mapping[str, Any], *, timeout: float = 1.0) -> Any:
    """Value of expression `source` with `data` as its variables; `data` is never changed."""
    code = _compile("eval", source)
    env = {**data, **_EVAL_GLOBALS}
    result = _run(code, env, timeout, "eval")
    if type(result) in _SCALARS:
        return result
    # A function or generator would run diagram code later, outside the time bound.
    if callable(result) or isinstance(result, Iterator):
        raise SandboxError("the expression gives a function or an iterator, not a value; use list(...)")
    try:
        size = _measure(result, MAX_OUTPUT_CHARS, False, {})
    except RecursionError:
        raise SandboxError("the expression's value is nested too deeply") from None
    if size > MAX_OUTPUT_CHARS:
        raise SandboxError(f"the expression's value is too large (over {MAX_OUTPUT_CHARS:,} characters)")
    return result


def _unchanged(new: Any, old: Any) -> bool:
    try:
        return type(new) is type(old) and bool(new == old)
    except Exception:
        return False


def execute(source: str, data: dict[str, Any], *, timeout: float = 1.0) -> None:
    """Run script `source` on `data`, then keep its new and changed JSON-serialisable variables in `data`."""
    code = _compile("exec", source)
    try:
        working = copy.deepcopy(data)
    except Exception as exc:
        raise SandboxError("the task data could not be copied for the script") from exc
    env = {**working, **_EXEC_GLOBALS}
    _run(code, env, timeout, "exec")

    # Only names the script could see or make; '_' names are the guards and RestrictedPython's temporaries.
    visible = {name for name in data if isinstance(name, str) and not name.startswith("_")}
    updates: dict[str, Any] = {}
    removals = [name for name in visible if name not in env]
    budget = MAX_OUTPUT_CHARS
    for name, value in env.items():
        if not isinstance(name, str) or name.startswith("_"):
            continue
        if name in visible and _unchanged(value, data[name]):
            continue
        try:
            size = _measure(value, budget, True, {})
        except RecursionError:
            size = -1
        if size < 0:
            if name in visible:
                removals.append(name)  # rebound to a function, module, ...: no longer a value
            continue
        budget -= size
        if budget < 0:
            raise SandboxError(f"the script produced too much data (over {MAX_OUTPUT_CHARS:,} characters)")
        updates[name] = value
    for name in removals:
        del data[name]
    data.update(updates)
