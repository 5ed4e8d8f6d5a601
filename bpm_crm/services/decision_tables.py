"""Decision tables a process owner edits as a grid (阈值表): read from the newest version, changed as a new one.

The grid keeps the table's inputs and outputs and replaces its rules. A change is checked as a deploy
checks it — every cell readable, no gap and no overlap, outputs among the values the table allows —
and is deployed as a new version of the process, so running requests keep the thresholds they
started with and the history shows which version decided.
"""
from __future__ import annotations

from dataclasses import dataclass

from bpm_crm.engine import decision_tables
from bpm_crm.engine.xmlsafe import UnsafeXml, parse_dmn_xml
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import ProcessDefinition, User
from bpm_crm.services import definitions, permissions

MAX_CELL = 80
# What the grid says about each kind of problem a table can have (others are shown as the engine words them).
SAID = {
    "cell": _("第 %(rule)s 行“%(column)s”：无法识别“%(value)s”，"
              "请写成 50000 <= ? < 200000、? < 10、数字或带引号的文字"),
    "empty_output": _("第 %(rule)s 行“%(column)s”：请选择一个结果"),
    "not_allowed": _("第 %(rule)s 行“%(column)s”：%(value)s 不是可选的结果（%(allowed)s）"),
    "gap": _("没有任何一行覆盖这种情况：%(case)s"),
    "overlap": _("第 %(first)s 行与第 %(second)s 行重叠：同一种情况只能由一行决定"),
}


def said(problem: str) -> str:
    """A table problem in the reader's language."""
    if isinstance(problem, decision_tables.TableProblem) and problem.code in SAID:
        return str(SAID[problem.code] % problem.params)
    return str(problem)


@dataclass(frozen=True)
class Grid:
    """A decision table as the grid shows it: column headings, allowed outputs, and rows of plain texts."""

    process_id: str
    version: int
    decision_id: str
    name: str
    inputs: list[str]
    outputs: list[str]
    allowed: list[list[str]]
    rows: list[tuple[list[str], list[str]]]


def _plain(output: str) -> str:
    value = output.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _table(definition: ProcessDefinition, decision_id: str) -> tuple[decision_tables.Table, str]:
    text = (definition.decisions or {}).get(decision_id)
    if text is None:
        raise NotFound("决策表不存在", code="decision_not_found")
    return decision_tables.read_table(parse_dmn_xml(text)), text


def grids(process_id: str) -> list[Grid]:
    """The decision tables of the newest version of a process."""
    definition = definitions.latest_definition(process_id)
    return [grid(process_id, decision_id) for decision_id in sorted(definition.decisions or {})]


def grid(process_id: str, decision_id: str) -> Grid:
    definition = definitions.latest_definition(process_id)
    table, _text = _table(definition, decision_id)
    return Grid(
        process_id=process_id, version=definition.version, decision_id=decision_id, name=table.name,
        inputs=[label or expression for label, expression in table.inputs],
        outputs=[label or name for label, name in table.outputs],
        allowed=[[_plain(value) for value in values] for values in table.allowed],
        rows=[(list(rule.texts), [_plain(output) for output in rule.outputs]) for rule in table.rules],
    )


def update(*, process_id: str, decision_id: str, rows: list[tuple[list[str], list[str]]], user: User,
           expected_version: int | None = None) -> ProcessDefinition:
    """Replace the table's rules; deployed as a new version of the process when they pass every check; commits."""
    if not permissions.can(user, "process.deploy"):
        raise Forbidden("您没有修改流程的权限")
    definition = definitions.latest_definition(process_id)
    if expected_version is not None and expected_version != definition.version:
        raise Conflict("决策表已被他人修改，请刷新后再改", code="decision_stale")
    table, text = _table(definition, decision_id)
    rows = [([cell.strip() or "-" for cell in cells], [output.strip() for output in outputs])
            for cells, outputs in rows]
    problems = _shape_problems(table, rows)
    if problems:
        raise Invalid("决策表有错误，未保存", {"rows": [said(p) for p in problems]}, code="decision_invalid")
    new_text = decision_tables.with_rules(parse_dmn_xml(text), rows)
    try:
        changed = decision_tables.read_table(parse_dmn_xml(new_text))
        problems = decision_tables.check_table(changed)
    except (decision_tables.TableInvalid, UnsafeXml) as exc:
        problems = exc.problems if isinstance(exc, decision_tables.TableInvalid) else [str(exc)]
    if problems:
        raise Invalid("决策表有错误，未保存", {"rows": [said(p) for p in problems]}, code="decision_invalid")
    if [(rule.texts, rule.outputs) for rule in changed.rules] == [(rule.texts, rule.outputs) for rule in table.rules]:
        return definition  # the same rules: no new version
    stored, _created = definitions.deploy(xml=definition.bpmn_xml, decisions={decision_id: new_text},
                                          file_name=definition.file_name, user=user)
    db.session.refresh(stored)
    return stored


def _shape_problems(table: decision_tables.Table, rows: list[tuple[list[str], list[str]]]) -> list[str]:
    if not rows:
        return [str(_("决策表至少需要一行"))]
    if len(rows) > decision_tables.MAX_RULES:
        return [str(_("决策表最多 %(count)s 行", count=decision_tables.MAX_RULES))]
    problems = []
    for index, (cells, outputs) in enumerate(rows, start=1):
        if len(cells) != len(table.inputs) or len(outputs) != len(table.outputs):
            problems.append(str(_("第 %(rule)s 行的列数不对", rule=index)))
        elif any(len(value) > MAX_CELL for value in [*cells, *outputs]):
            problems.append(str(_("第 %(rule)s 行：每格最多 %(count)s 个字符", rule=index, count=MAX_CELL)))
    return problems
