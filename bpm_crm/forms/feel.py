"""The part of FEEL that task forms may use, evaluated on the server exactly as the browser does.

form-js writes conditions (`conditional.hide`), read-only rules and computed fields in FEEL
(an expression string starting with "="). The browser is never the only guard: every such
expression is parsed at deploy time by this module — anything outside the subset is refused
there — and evaluated again on the server when a form is submitted.

The subset: literals (numbers, "strings", true, false, null), lists `[a, b]`, names and paths
(`order.amount`, `items[1]` with FEEL's 1-based index), `+ - * /`, comparisons (`=`, `!=`, `<`,
`<=`, `>`, `>=`), `and`, `or`, `not(x)`, `x in [..]`, `x between a and b`, `if c then a else b`,
and the functions listed in FUNCTIONS. Null propagates as FEEL defines: a comparison or
arithmetic with null is null, and a condition is met only when it is exactly true.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 40


class FeelError(ValueError):
    """An expression outside the supported FEEL subset; the message says why in plain words."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<op><=|>=|!=|[-+*/()<>=,.\[\]])
    | (?P<name>[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "true", "false", "null", "in", "between", "if", "then", "else"}


def _text_length(value: Any) -> Any:
    return len(value) if isinstance(value, str) else None


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, list) else None


def _sum(value: Any) -> Any:
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        return None
    return sum((Decimal(str(v)) for v in value), Decimal(0))


def _contains(text: Any, part: Any) -> Any:
    return part in text if isinstance(text, str) and isinstance(part, str) else None


def _case(convert: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda value: convert(value) if isinstance(value, str) else None


def _is_defined(value: Any) -> bool:
    return value is not _MISSING


def _not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


# Function names as FEEL spells them (some hold a space); each takes evaluated arguments.
FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "not": (1, _not),
    "count": (1, _count),
    "sum": (1, _sum),
    "string length": (1, _text_length),
    "contains": (2, _contains),
    "upper case": (1, _case(str.upper)),
    "lower case": (1, _case(str.lower)),
    "is defined": (1, _is_defined),
}
_MULTIWORD = {name.split(" ")[0]: name for name in FUNCTIONS if " " in name}


class _Missing:
    """A path that leads nowhere: null everywhere except to `is defined`."""

    def __repr__(self) -> str:
        return "null"


_MISSING = _Missing()


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: a kind and its parts."""

    kind: str
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Expression:
    """A parsed FEEL expression with the top-level names it reads."""

    source: str
    tree: Node
    names: frozenset[str]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The expression's value in `context` (form data plus this/parent/i in repeated rows)."""
        value = _evaluate(self.tree, context)
        return None if value is _MISSING else value

    def is_true(self, context: Mapping[str, Any]) -> bool:
        """Whether the expression, read as a condition, is met (exactly true)."""
        return self.evaluate(context) is True


def is_expression(value: Any) -> bool:
    """form-js's rule: a string starting with '=' is an expression, anything else a literal."""
    return isinstance(value, str) and value.startswith("=")


def parse(source: str) -> Expression:
    """Parse a FEEL expression written with or without its leading '='; FeelError when unsupported."""
    if not isinstance(source, str):
        raise FeelError("the expression is not text")
    text = source[1:] if source.startswith("=") else source
    if len(text) > MAX_LENGTH:
        raise FeelError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokens(text))
    tree = parser.expression(0)
    left = parser.peek()
    if left is not None:
        raise FeelError(f"unexpected '{left[1]}'")
    return Expression(source=source, tree=tree, names=frozenset(parser.names))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FeelError(f"cannot read the expression at '{text[position:position + 10]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the subset, with a depth bound."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.names: set[str] = set()

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FeelError("the expression ends too early")
        self.position += 1
        return token

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("op", "name"):
            self.position += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            found = self.peek()
            raise FeelError(f"expected '{value}' but found '{found[1] if found else 'the end'}'")

    def expression(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise FeelError("the expression is nested too deeply")
        if self.accept("if"):
            condition = self.expression(depth + 1)
            self.expect("then")
            then = self.expression(depth + 1)
            self.expect("else")
            return Node("if", (condition, then, self.expression(depth + 1)))
        return self.disjunction(depth + 1)

    def disjunction(self, depth: int) -> Node:
        node = self.conjunction(depth)
        while self.accept("or"):
            node = Node("or", (node, self.conjunction(depth)))
        return node

    def conjunction(self, depth: int) -> Node:
        node = self.comparison(depth)
        while self.accept("and"):
            node = Node("and", (node, self.comparison(depth)))
        return node

    def comparison(self, depth: int) -> Node:
        node = self.additive(depth)
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("=", "!=", "<", "<=", ">", ">="):
            self.take()
            return Node("compare", (token[1], node, self.additive(depth)))
        if self.accept("between"):
            low = self.additive(depth)
            self.expect("and")
            return Node("between", (node, low, self.additive(depth)))
        if self.accept("in"):
            return Node("in", (node, self.additive(depth)))
        return node

    def additive(self, depth: int) -> Node:
        node = self.multiplicative(depth)
        while (token := self.peek()) and token[0] == "op" and token[1] in ("+", "-"):
            self.take()
            node = Node("arith", (token[1], node, self.multiplicative(depth)))
        return node

    def multiplicative(self, depth: int) -> Node:
        node = self.unary(depth)
        while (token := self.peek()) and token[0] == "op" and token[1] in ("*", "/"):
            self.take()
            node = Node("arith", (token[1], node, self.unary(depth)))
        return node

    def unary(self, depth: int) -> Node:
        if self.accept("-"):
            return Node("neg", (self.unary(depth + 1),))
        return self.postfix(depth)

    def postfix(self, depth: int) -> Node:
        node = self.primary(depth)
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "name":
                    raise FeelError(f"a name is expected after '.', not '{name}'")
                node = Node("get", (node, name))
            elif self.accept("["):
                index = self.expression(depth + 1)
                self.expect("]")
                node = Node("index", (node, index))
            else:
                return node

    def primary(self, depth: int) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Node("literal", (Decimal(value),))
        if kind == "string":
            return Node("literal", (_unescape(value[1:-1]),))
        if kind == "op" and value == "(":
            node = self.expression(depth + 1)
            self.expect(")")
            return node
        if kind == "op" and value == "[":
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.expression(depth + 1))
                while self.accept(","):
                    items.append(self.expression(depth + 1))
                self.expect("]")
            return Node("list", tuple(items))
        if kind == "name":
            if value in ("true", "false"):
                return Node("literal", (value == "true",))
            if value == "null":
                return Node("literal", (None,))
            name = self._function_name(value)
            if name is not None:
                return self.call(name, depth)
            if value in _KEYWORDS:
                raise FeelError(f"'{value}' cannot stand here")
            self.names.add(value)
            return Node("name", (value,))
        raise FeelError(f"unexpected '{value}'")

    def _function_name(self, first: str) -> str | None:
        second = self.peek()
        full = _MULTIWORD.get(first)
        if full and second and second[0] == "name" and f"{first} {second[1]}" == full:
            following = self.peek(1)
            if following and following[1] == "(":
                self.take()
                return full
        following = self.peek()
        if following and following[1] == "(" and following[0] == "op":
            if first not in FUNCTIONS:
                raise FeelError(f"the function '{first}' is not available in forms")
            return first
        return None

    def call(self, name: str, depth: int) -> Node:
        self.expect("(")
        arguments: list[Node] = []
        if not self.accept(")"):
            arguments.append(self.expression(depth + 1))
            while self.accept(","):
                arguments.append(self.expression(depth + 1))
            self.expect(")")
        arity = FUNCTIONS[name][0]
        if len(arguments) != arity:
            raise FeelError(f"{name}() takes {arity} argument{'s' if arity != 1 else ''}")
        return Node("call", (name, tuple(arguments)))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _number(value: Any) -> Decimal | None:
    if not _is_number(value):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(value: Any) -> Any:
    """Numbers compare as decimals; everything else as it is."""
    number = _number(value)
    return number if number is not None else value


def _compare(op: str, left: Any, right: Any) -> Any:
    if left is _MISSING:
        left = None
    if right is _MISSING:
        right = None
    left, right = _plain(left), _plain(right)
    if op in ("=", "!="):
        if left is None or right is None:
            equal = left is None and right is None
        elif isinstance(left, bool) != isinstance(right, bool) or type(left) is not type(right):
            return None if not (isinstance(left, Decimal) and isinstance(right, Decimal)) else left == right
        else:
            equal = left == right
        return equal if op == "=" else not equal
    if left is None or right is None or isinstance(left, bool) or isinstance(right, bool):
        return None
    if type(left) is not type(right) or not isinstance(left, (Decimal, str)):
        return None
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _arith(op: str, left: Any, right: Any) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right if len(left) + len(right) <= 100_000 else None
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if b != 0 else None
    except InvalidOperation:
        return None


def _truth(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _evaluate(node: Node, context: Mapping[str, Any]) -> Any:
    kind, parts = node.kind, node.parts
    if kind == "literal":
        return parts[0]
    if kind == "name":
        return context.get(parts[0], _MISSING) if isinstance(context, Mapping) else _MISSING
    if kind == "get":
        base = _evaluate(parts[0], context)
        return base.get(parts[1], _MISSING) if isinstance(base, Mapping) else _MISSING
    if kind == "index":
        base, index = _evaluate(parts[0], context), _number(_evaluate(parts[1], context))
        if not isinstance(base, list) or index is None or index != index.to_integral_value():
            return _MISSING
        position = int(index)
        position = position - 1 if position > 0 else len(base) + position  # FEEL: 1-based, -1 is the last
        return base[position] if 0 <= position < len(base) else _MISSING
    if kind == "list":
        return [_evaluate(item, context) for item in parts]
    if kind == "and":
        left = _truth(_evaluate(parts[0], context))
        if left is False:
            return False
        right = _truth(_evaluate(parts[1], context))
        if right is False:
            return False
        return True if left and right else None
    if kind == "or":
        left = _truth(_evaluate(parts[0], context))
        if left is True:
            return True
        right = _truth(_evaluate(parts[1], context))
        if right is True:
            return True
        return False if left is False and right is False else None
    if kind == "compare":
        return _compare(parts[0], _evaluate(parts[1], context), _evaluate(parts[2], context))
    if kind == "between":
        value, low, high = (_evaluate(part, context) for part in parts)
        above, below = _compare(">=", value, low), _compare("<=", value, high)
        return None if above is None or below is None else above and below
    if kind == "in":
        value, candidates = _evaluate(parts[0], context), _evaluate(parts[1], context)
        if not isinstance(candidates, list):
            return _compare("=", value, candidates)
        return any(_compare("=", value, candidate) is True for candidate in candidates)
    if kind == "arith":
        return _arith(parts[0], _evaluate(parts[1], context), _evaluate(parts[2], context))
    if kind == "neg":
        number = _number(_evaluate(parts[0], context))
        return -number if number is not None else None
    if kind == "if":
        return _evaluate(parts[1] if _evaluate(parts[0], context) is True else parts[2], context)
    if kind == "call":
        name, arguments = parts
        values = [_evaluate(argument, context) for argument in arguments]
        if name != "is defined":
            values = [None if value is _MISSING else value for value in values]
        return FUNCTIONS[name][1](*values)
    raise FeelError(f"unknown expression part '{kind}'")  # pragma: no cover - the parser makes no others
