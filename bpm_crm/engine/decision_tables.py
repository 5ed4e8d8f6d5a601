"""Decision tables (DMN) that process owners edit: read, checked for gaps and overlaps, written back.

SpiffWorkflow runs a table's first matching rule and never says when two rules overlap or when no
rule matches (the business rule task then leaves nothing behind). So every table is checked here
before it is deployed: its hit policy must be UNIQUE, each input cell must be a range or a value
this module understands — empty or `-` (anything), `? < 50000`, `? >= 10`, `50000 <= ? < 200000`,
a number or a quoted text — and every combination of inputs must match exactly one rule.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

MAX_RULES = 200
MAX_POINTS = 50_000
_NUMBER = r"-?\d+(?:\.\d+)?"
_ONE_SIDE = re.compile(rf"^\?\s*(<=|<|>=|>|==)\s*({_NUMBER})$")
_TWO_SIDES = re.compile(rf"^({_NUMBER})\s*(<=|<)\s*\?\s*(<=|<)\s*({_NUMBER})$")
_VALUE = re.compile(rf"^{_NUMBER}$")
_TEXT = re.compile(r'^"([^"\\]{0,200})"$')
_TEXT_ITEM = re.compile(r'"[^"\\]{0,200}"')


class TableProblem(str):
    """A problem of a table in plain English, with a code and parameters to say it in the reader's words."""

    code: str
    params: dict[str, str]

    def __new__(cls, text: str, code: str, **params: object) -> TableProblem:
        problem = super().__new__(cls, text)
        problem.code = code
        problem.params = {key: str(value) for key, value in params.items()}
        return problem


class TableInvalid(ValueError):
    """A decision table that must not be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Cell:
    """What one input cell accepts: everything, a numeric range, or one text."""

    low: Decimal | None = None
    low_open: bool = False
    high: Decimal | None = None
    high_open: bool = False
    text: str | None = None
    anything: bool = False

    def accepts(self, value: Decimal | str) -> bool:
        if self.anything:
            return True
        if self.text is not None or isinstance(value, str):
            return isinstance(value, str) and value == self.text
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))


@dataclass
class Rule:
    """One row: its input cells as written and read, and its outputs."""

    rule_id: str
    texts: list[str]
    cells: list[Cell]
    outputs: list[str]


@dataclass
class Table:
    """A decision table: its decision, inputs, outputs and rules."""

    decision_id: str
    name: str
    hit_policy: str
    inputs: list[tuple[str, str]]  # (label, expression)
    outputs: list[tuple[str, str]]  # (label, variable name)
    rules: list[Rule] = field(default_factory=list)
    # Per output, the values it may take (DMN outputValues, e.g. "supervisor","supervisor,director"); empty: any.
    allowed: list[list[str]] = field(default_factory=list)


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _child(node: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in node if isinstance(child.tag, str) and _local(child) == name), None)


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in node if isinstance(child.tag, str) and _local(child) == name]


def _text(node: etree._Element | None) -> str:
    inner = _child(node, "text") if node is not None else None
    return (inner.text or "").strip() if inner is not None else ""


def read_cell(text: str) -> Cell:
    """The set of values a cell accepts; ValueError when the cell is outside what can be checked."""
    value = text.strip()
    if value in ("", "-"):
        return Cell(anything=True)
    if (match := _TEXT.match(value)) is not None:
        return Cell(text=match.group(1))
    if _VALUE.match(value):
        number = Decimal(value)
        return Cell(low=number, high=number)
    if (match := _ONE_SIDE.match(value)) is not None:
        op, number = match.group(1), Decimal(match.group(2))
        return {
            "<": Cell(high=number, high_open=True), "<=": Cell(high=number),
            ">": Cell(low=number, low_open=True), ">=": Cell(low=number), "==": Cell(low=number, high=number),
        }[op]
    if (match := _TWO_SIDES.match(value)) is not None:
        low, low_op, high_op, high = match.groups()
        if Decimal(low) > Decimal(high):
            raise ValueError(f"'{value}': the lower bound is above the upper bound")
        return Cell(low=Decimal(low), low_open=low_op == "<", high=Decimal(high), high_open=high_op == "<")
    raise ValueError(f"'{value}' is not a range like 50000 <= ? < 200000, ? < 10, a number or a quoted text")


def read_table(root: etree._Element) -> Table:
    """The one decision table of a DMN document; TableInvalid when it cannot be read or checked."""
    decisions = [node for node in root.iter() if isinstance(node.tag, str) and _local(node) == "decision"]
    if len(decisions) != 1:
        raise TableInvalid([f"a decision file must hold exactly one decision, found {len(decisions)}"])
    decision = decisions[0]
    decision_id = decision.get("id") or ""
    table_node = _child(decision, "decisionTable")
    if table_node is None:
        raise TableInvalid([f"decision '{decision_id}' has no decision table"])
    table = Table(
        decision_id=decision_id, name=decision.get("name") or decision_id,
        hit_policy=(table_node.get("hitPolicy") or "UNIQUE").upper(),
        inputs=[(node.get("label") or "", _text(_child(node, "inputExpression"))) for node in
                _children(table_node, "input")],
        outputs=[(node.get("label") or "", node.get("name") or "") for node in _children(table_node, "output")],
        allowed=[_TEXT_ITEM.findall(_text(_child(node, "outputValues"))) for node in _children(table_node, "output")],
    )
    problems: list[str] = []
    for index, node in enumerate(_children(table_node, "rule"), start=1):
        texts = [_text(entry) if _child(entry, "text") is not None else (entry.text or "") for entry in
                 _children(node, "inputEntry")]
        cells = []
        for column, text in enumerate(texts):
            try:
                cells.append(read_cell(text))
            except ValueError as exc:
                problems.append(TableProblem(f"rule {index}, {_label(table, column)}: {exc}", "cell", rule=index,
                                             column=_label(table, column), value=text.strip()))
                cells.append(Cell(anything=True))
        outputs = [_text(entry) if _child(entry, "text") is not None else (entry.text or "") for entry in
                   _children(node, "outputEntry")]
        table.rules.append(Rule(rule_id=node.get("id") or f"rule_{index}", texts=texts, cells=cells, outputs=outputs))
    if problems:
        raise TableInvalid(problems)
    return table


def _label(table: Table, column: int) -> str:
    label, expression = table.inputs[column] if column < len(table.inputs) else ("", "")
    return label or expression or f"input {column + 1}"


def check_table(table: Table) -> list[str]:
    """Every problem of the table: hit policy, shape, and any input combination matched by none or by two rules."""
    problems: list[str] = []
    if table.hit_policy != "UNIQUE":
        problems.append(f"hit policy {table.hit_policy} is not supported; use UNIQUE (one rule per case)")
    if not table.inputs or not table.outputs:
        problems.append("the table needs at least one input and one output")
    if not table.rules:
        problems.append("the table has no rules")
    if len(table.rules) > MAX_RULES:
        problems.append(f"the table has more than {MAX_RULES} rules")
    for index, rule in enumerate(table.rules, start=1):
        if len(rule.cells) != len(table.inputs) or len(rule.outputs) != len(table.outputs):
            problems.append(f"rule {index} does not have one cell per input and output")
        for column, output in enumerate(rule.outputs):
            if not output.strip():
                label = table.outputs[column][0] or table.outputs[column][1] if column < len(table.outputs) else ""
                problems.append(TableProblem(f"rule {index}, {label}: the output is empty", "empty_output",
                                             rule=index, column=label))
        for column, output in enumerate(rule.outputs):
            allowed = table.allowed[column] if column < len(table.allowed) else []
            if allowed and output.strip() and output.strip() not in allowed:
                label = table.outputs[column][0] or table.outputs[column][1]
                problems.append(TableProblem(f"rule {index}, {label}: {output.strip()} is not one of "
                                             f"{', '.join(allowed)}", "not_allowed", rule=index, column=label,
                                             value=output.strip(), allowed="、".join(allowed)))
    if problems:
        return problems
    axes = [_points(table, column) for column in range(len(table.inputs))]
    total = 1
    for axis in axes:
        total *= len(axis)
    if total > MAX_POINTS:
        return ["the table is too large to check; use fewer distinct bounds"]
    gaps: list[str] = []
    overlaps: set[tuple[int, int]] = set()
    for point in itertools.product(*axes):
        matching = [index for index, rule in enumerate(table.rules, start=1)
                    if all(cell.accepts(value) for cell, value in zip(rule.cells, point, strict=True))]
        if not matching and len(gaps) < 5:
            gaps.append(", ".join(f"{_label(table, c)} = {_shown(v)}" for c, v in enumerate(point)))
        for first, second in itertools.combinations(matching, 2):
            overlaps.add((first, second))
    problems += [TableProblem(f"no rule matches {gap}", "gap", case=gap) for gap in gaps]
    problems += [TableProblem(f"rules {first} and {second} overlap", "overlap", first=first, second=second)
                 for first, second in sorted(overlaps)[:10]]
    return problems


def _shown(value: Decimal | str) -> str:
    return f'"{value}"' if isinstance(value, str) else format(value, "f")


def _points(table: Table, column: int) -> list[Decimal | str]:
    """Values that stand for every distinct region of one input, given the bounds the rules use."""
    texts = sorted({text for rule in table.rules if (text := rule.cells[column].text) is not None})
    if texts:
        return [*texts, "\u0000other"]
    bounds = sorted({bound for rule in table.rules for bound in (rule.cells[column].low, rule.cells[column].high)
                     if bound is not None})
    if not bounds:
        return [Decimal(0)]
    points: list[Decimal | str] = [bounds[0] - 1]
    for low, high in zip(bounds, bounds[1:], strict=False):
        points += [low, (low + high) / 2]
    points += [bounds[-1], bounds[-1] + 1]
    return points


def quoted(text: str) -> str:
    """An output as the table writes it: a number stays a number, anything else becomes a quoted text."""
    value = text.strip()
    if not value or _VALUE.match(value) or _TEXT.match(value):
        return value
    return '"' + value.replace('"', "").replace("\\", "") + '"'


def with_rules(root: etree._Element, rows: list[tuple[list[str], list[str]]]) -> str:
    """The DMN document with its rules replaced by `rows` (input cells, output texts); inputs and outputs stay."""
    document = copy.deepcopy(root)
    decision = next(node for node in document.iter() if isinstance(node.tag, str) and _local(node) == "decision")
    table_node = _child(decision, "decisionTable")
    if table_node is None:
        raise TableInvalid([f"decision '{decision.get('id')}' has no decision table"])
    namespace = etree.QName(table_node).namespace
    for rule in _children(table_node, "rule"):
        table_node.remove(rule)
    prefix = decision.get("id") or "decision"
    for number_, (cells, outputs) in enumerate(rows, start=1):
        rule = etree.SubElement(table_node, f"{{{namespace}}}rule", id=f"{prefix}_rule_{number_}")
        for column, cell in enumerate(cells, start=1):
            entry = etree.SubElement(rule, f"{{{namespace}}}inputEntry", id=f"{prefix}_rule_{number_}_in_{column}")
            etree.SubElement(entry, f"{{{namespace}}}text").text = cell.strip() or "-"
        for column, output in enumerate(outputs, start=1):
            entry = etree.SubElement(rule, f"{{{namespace}}}outputEntry", id=f"{prefix}_rule_{number_}_out_{column}")
            etree.SubElement(entry, f"{{{namespace}}}text").text = quoted(output)
    etree.indent(document, space="  ")
    return etree.tostring(document, encoding="unicode", xml_declaration=False)


def number(text: str) -> Decimal | None:
    """A number a process owner typed into the grid, or None."""
    try:
        return Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
