"""Decision tables: what a cell accepts, gaps and overlaps found before SpiffWorkflow would pick a first match,
and the shipped quote table deciding at its limits."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bpm_crm.engine import decision_tables
from bpm_crm.engine.definitions import DefinitionInvalid, parse_definition
from bpm_crm.engine.xmlsafe import parse_dmn_xml

ROOT = Path(__file__).resolve().parents[2]
LEVELS = (ROOT / "processes" / "quote_levels.dmn").read_text(encoding="utf-8")
DIAGRAM = (ROOT / "processes" / "quote_approval.bpmn").read_text(encoding="utf-8")


def table(rows) -> decision_tables.Table:
    return decision_tables.read_table(parse_dmn_xml(decision_tables.with_rules(parse_dmn_xml(LEVELS), rows)))


@pytest.mark.parametrize(("text", "inside", "outside"), [
    ("? < 50000", ["49999.99", "-1"], ["50000", "50000.01"]),
    ("50000 <= ? < 200000", ["50000", "199999.99"], ["49999.99", "200000"]),
    ("? >= 200000", ["200000", "1e7"], ["199999.99"]),
    ("20", ["20"], ["20.01", "19.99"]),
    ("-", ["0", "123"], []),
])
def test_a_cell_accepts_exactly_its_range(text, inside, outside):
    cell = decision_tables.read_cell(text)
    assert all(cell.accepts(Decimal(value)) for value in inside)
    assert not any(cell.accepts(Decimal(value)) for value in outside)


@pytest.mark.parametrize("text", ["? < abc", "import os", "200 <= ? < 100", "? in [1, 2]", "__import__('os')"])
def test_a_cell_outside_what_can_be_checked_is_refused(text):
    with pytest.raises(ValueError):
        decision_tables.read_cell(text)


def test_the_shipped_table_has_no_gap_and_no_overlap():
    assert decision_tables.check_table(decision_tables.read_table(parse_dmn_xml(LEVELS))) == []


def test_overlapping_rows_are_named():
    problems = decision_tables.check_table(table([
        (["? < 50000", "-"], ["supervisor"]),
        (["? <= 50000", "-"], ["supervisor,director"]),  # 50000 is in both
        (["? > 50000", "-"], ["supervisor,director,executive"]),
    ]))
    assert [(p.code, p.params) for p in problems] == [("overlap", {"first": "1", "second": "2"})]


def test_a_gap_is_named_with_the_case_nobody_covers():
    problems = decision_tables.check_table(table([
        (["? < 50000", "-"], ["supervisor"]),
        (["? > 50000", "-"], ["supervisor,director"]),
    ]))
    assert [p.code for p in problems] == ["gap"] and "50000" in problems[0].params["case"]


def test_an_output_the_table_does_not_allow_is_refused():
    problems = decision_tables.check_table(table([(["-", "-"], ["boss"])]))
    assert [p.code for p in problems] == ["not_allowed"] and problems[0].params["value"] == '"boss"'


def test_a_diagram_whose_table_overlaps_does_not_deploy():
    broken = decision_tables.with_rules(parse_dmn_xml(LEVELS), [(["-", "-"], ["supervisor"]),
                                                                  (["? > 1", "-"], ["supervisor,director"])])
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(DIAGRAM, decisions={"quote_levels": broken})
    assert any(p.element_id == "quote_levels" and "overlap" in p.message for p in refused.value.problems)


def test_a_diagram_without_its_table_does_not_deploy():
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(DIAGRAM, decisions={})
    assert refused.value.problems


def test_writing_rules_keeps_inputs_outputs_and_allowed_values():
    written = table([(["-", "-"], ["supervisor"])])
    original = decision_tables.read_table(parse_dmn_xml(LEVELS))
    assert written.inputs == original.inputs and written.outputs == original.outputs
    assert written.allowed == original.allowed and written.rules[0].outputs == ['"supervisor"']
