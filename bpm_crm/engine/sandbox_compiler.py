"""Deploy-time checks and compilation of diagram code: size and nesting limits, plain-language refusals,
constant folding, and which expressions are simple enough to evaluate without a worker process."""
from __future__ import annotations

import ast
import functools
import re
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Literal

from RestrictedPython import RestrictingNodeTransformer, compile_restricted
from RestrictedPython.transformer import copy_locations

from bpm_crm.engine.sandbox_guards import BINOP_GUARDS, MAX_FORMAT_NUMBER, MAX_INT_BITS, MAX_SIZE

MAX_SOURCE_CHARS = 50_000  # one expression or script; parsing cost and memory grow with it
MAX_NESTING = 100  # depth of the syntax tree; the parser and compiler recurse on it in C
MAX_FAST_NODES = 40  # an expression this small, made of the FAST_NODES below, runs without a worker

# Compiled code carries this filename; the tracer line-traces only frames that have it.
FILENAME = "<bpmn>"
Mode = Literal["eval", "exec"]


class UnsafeCode(ValueError):
    """Code the sandbox refuses to compile; .problems is a list of plain-language messages."""

    problems: list[str]

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles exceptions; rebuild from the list, not from the joined message.
        return (type(self), (self.problems,))


@dataclass(frozen=True)
class Program:
    """Compiled diagram code; `fast` when it can only compare and look up values (see _is_fast)."""

    code: types.CodeType
    fast: bool


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


def _plain_target(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return True
    return isinstance(node, (ast.Tuple, ast.List)) and all(_plain_target(item) for item in node.elts)


class _Checker(ast.NodeVisitor):
    """Collects plain-language problems; a whitelist of statements, no '_' names, no reflection."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
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
        # `[0 for items[0] in [99]]` would write into the data an expression only reads.
        if self.mode == "eval" and not _plain_target(node.target):
            self.report(node.target, "in an expression, 'for' can only name variables (like 'for k, v in ...')")
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


@dataclass(frozen=True)
class _Sized:
    """A text or display whose length the folder knows without building it."""

    kind: type
    length: int


_UNKNOWN = object()


class _ConstantFolder(ast.NodeVisitor):
    """Folds +, -, *, ** and << on literals as far as the results stay small; reports those that would not."""

    def __init__(self, checker: _Checker) -> None:
        self.checker = checker

    def generic_visit(self, node: ast.AST) -> Any:
        super().generic_visit(node)
        return _UNKNOWN

    def visit_Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, (str, bytes)):
            return _Sized(type(value), len(value))
        return value if type(value) in (int, float, bool) else _UNKNOWN

    def visit_List(self, node: ast.List) -> Any:
        self.generic_visit(node)
        return _Sized(list, len(node.elts))

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        self.generic_visit(node)
        return _Sized(tuple, len(node.elts))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if type(value) in (int, float) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value if isinstance(node.op, ast.USub) else value
        return _UNKNOWN

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        try:
            return self._fold(node.op, left, right)
        except _TooLarge as exc:
            shown = ast.unparse(node)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            self.checker.report(node, f"{shown} {exc}")
            return _UNKNOWN

    @staticmethod
    def _fold(op: ast.operator, a: Any, b: Any) -> Any:
        if type(a) in (int, bool) and type(b) in (int, bool):
            return _fold_integers(op, int(a), int(b))
        if isinstance(op, ast.Mult):
            sized, count = (a, b) if isinstance(a, _Sized) else (b, a)
            if isinstance(sized, _Sized) and type(count) in (int, bool):
                if sized.length * count > MAX_SIZE:
                    raise _TooLarge(f"would be too large; the limit is {MAX_SIZE:,} items or characters")
                return _Sized(sized.kind, max(sized.length * count, 0))
        if isinstance(op, ast.Add) and isinstance(a, _Sized) and isinstance(b, _Sized) and a.kind is b.kind:
            if a.length + b.length > MAX_SIZE:
                raise _TooLarge(f"would be too large; the limit is {MAX_SIZE:,} items or characters")
            return _Sized(a.kind, a.length + b.length)
        return _UNKNOWN


class _TooLarge(Exception):
    """A folded constant would be over a size limit."""


def _fold_integers(op: ast.operator, a: int, b: int) -> Any:
    too_large = _TooLarge(f"would be a number too large (over {MAX_INT_BITS:,} bits)")
    if isinstance(op, ast.Pow):
        if b < 0:
            return _UNKNOWN
        if abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
            raise too_large
        return a**b
    if isinstance(op, ast.Mult):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise too_large
        return a * b
    if isinstance(op, ast.LShift):
        if b < 0:
            return _UNKNOWN
        if a and a.bit_length() + b > MAX_INT_BITS:
            raise too_large
        return a << b
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    return _UNKNOWN


class _Transformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus guard calls around operators and f-string values."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = BINOP_GUARDS.get(type(node.op))
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


def _parse(mode: Mode, source: str) -> ast.Module | ast.Expression:
    if len(source) > MAX_SOURCE_CHARS:
        raise UnsafeCode([f"line 1: the code is too long ({len(source):,} characters; "
                          f"the limit is {MAX_SOURCE_CHARS:,})"])
    try:
        return _parse_text(mode, source)
    except UnsafeCode:
        raise
    except (MemoryError, RecursionError):
        # CPython's parser reports a stack overflow on hostile nesting ('not not ... x') as MemoryError.
        raise UnsafeCode(["line 1: the code is nested too deeply"]) from None
    except ValueError:
        raise UnsafeCode(["line 1: the code contains a null character"]) from None


def _parse_text(mode: Mode, source: str) -> ast.Module | ast.Expression:
    if mode == "eval":
        text = source.strip()
        if not text:
            raise UnsafeCode(["the expression is empty"])
        try:
            return ast.parse(text, FILENAME, "eval")
        except SyntaxError as exc:
            try:
                ast.parse(text, FILENAME, "exec")
            except SyntaxError:
                raise UnsafeCode([f"line {exc.lineno}: syntax error: {exc.msg}"]) from None
            raise UnsafeCode([
                "line 1: a single expression is expected here (like amount > 1000), "
                "not a statement or several lines"
            ]) from None
    try:
        return ast.parse(textwrap.dedent(source), FILENAME, "exec")
    except SyntaxError as exc:
        raise UnsafeCode([f"line {exc.lineno}: syntax error: {exc.msg}"]) from None


def _check_nesting(tree: ast.AST) -> None:
    # Iterative, so that measuring a hostile tree cannot itself overflow the stack.
    pending: list[tuple[ast.AST, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            line = getattr(node, "lineno", 1)
            raise UnsafeCode([f"line {line}: the code is nested too deeply (over {MAX_NESTING} levels)"])
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


_FAST_NODES = (
    ast.Expression, ast.Name, ast.Constant, ast.Compare, ast.BoolOp, ast.IfExp, ast.Tuple, ast.List,
    ast.Subscript, ast.UnaryOp, ast.Load, ast.cmpop, ast.boolop, ast.Not, ast.USub, ast.UAdd,
)


def _constant_key(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (str, int)


def _is_fast(tree: ast.AST) -> bool:
    """True when the expression only names, compares, negates and indexes with constant keys.

    Each such operation is at most linear in the size of the task data it touches (no calls, loops,
    comprehensions, attributes or arithmetic that repeats a sequence), so it cannot hold the caller.
    """
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_FAST_NODES:
        return False
    for node in nodes:
        if not isinstance(node, _FAST_NODES):
            return False
        if isinstance(node, ast.Subscript) and not _constant_key(node.slice):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def compile_code(mode: Mode, source: str) -> Program:
    """Check and compile `source`, or raise UnsafeCode listing every problem found."""
    if not isinstance(source, str):
        raise UnsafeCode(["the code is not text"])
    tree = _parse(mode, source)
    _check_nesting(tree)
    try:
        checker = _Checker(mode)
        checker.visit(tree)
        _ConstantFolder(checker).visit(tree)
        if checker.problems:
            raise UnsafeCode(checker.problems)
        fast = mode == "eval" and _is_fast(tree)  # before the transformer rewrites the tree
        return Program(compile_restricted(tree, FILENAME, mode, policy=_Transformer), fast)
    except SyntaxError as exc:
        # compile_restricted reports its policy violations as SyntaxError(list of "Line N: ...").
        errors = exc.args[0] if exc.args and isinstance(exc.args[0], (list, tuple)) else [str(exc)]
        raise UnsafeCode([re.sub(r"^Line ", "line ", str(error)) for error in errors]) from None
    except (RecursionError, MemoryError):
        raise UnsafeCode(["line 1: the code is nested too deeply"]) from None
