"""Decision tables (阈值表) over the API: list them, read one as a grid, replace its rules as a new process version."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import fields_of, json_object
from bpm_crm.api.openapi import INT, STR, TIME, nullable, obj, operation, ref, responses
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.services import decision_catalog
from bpm_crm.services.decision_catalog import DeployedTable
from bpm_crm.services.decision_tables import MAX_CELL

MAX_ROWS = 100
MAX_COLUMNS = 20
MAX_VERSION = 2**31 - 1


def table(item: DeployedTable) -> dict[str, Any]:
    """A decision table as a grid: its columns, the values an output allows, and one row per rule."""
    grid = item.grid
    return {
        "process_id": grid.process_id, "process_name": item.process_name, "decision_id": grid.decision_id,
        "name": grid.name, "version": grid.version, "deployed_at": schemas.timestamp(item.deployed_at),
        "deployed_by": schemas.user_ref(item.deployed_by),
        "inputs": [{"label": label} for label in grid.inputs],
        "outputs": [{"label": label, "allowed": allowed} for label, allowed in zip(grid.outputs, grid.allowed,
                                                                                    strict=False)],
        "rows": [{"cells": cells, "outputs": outputs} for cells, outputs in grid.rows],
    }


def _texts(value: Any, limit: int) -> list[str] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        return None
    if not all(isinstance(text, str) and len(text) <= MAX_CELL for text in value):
        return None
    return value


def _rows(payload: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """The rows of the body, each {cells, outputs} of short texts; 422 naming the first bad row."""
    raw = payload.get("rows")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ROWS:
        raise Invalid(str(_("请更正标出的字段")), {"rows": [str(_("应为 1 到 %(limit)s 行", limit=MAX_ROWS))]})
    rows = []
    for number, row in enumerate(raw, start=1):
        cells = _texts(row.get("cells"), MAX_COLUMNS) if isinstance(row, dict) else None
        outputs = _texts(row.get("outputs"), MAX_COLUMNS) if isinstance(row, dict) else None
        if cells is None or outputs is None or set(row) - {"cells", "outputs"}:
            message = _("第 %(rule)s 行应为 {cells, outputs}：每格是不超过 %(count)s 个字符的文本",
                        rule=number, count=MAX_CELL)
            raise Invalid(str(_("请更正标出的字段")), {"rows": [str(message)]})
        rows.append((cells, outputs))
    return rows


def _version(payload: dict[str, Any]) -> int:
    value = payload.get("expected_version")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise Invalid(str(_("请更正标出的字段")), {"expected_version": [str(_("应为当前的版本号（整数）"))]})
    return value


@bp.get("/processes/decisions")
def list_decision_tables() -> Response:
    """Every decision table of the newest version of each process (process owners)."""
    return jsonify({"items": [table(item) for item in decision_catalog.list_tables(user=current_user())]})


@bp.get("/processes/<process_id>/decisions/<decision_id>")
def get_decision_table(process_id: str, decision_id: str) -> Response:
    """One decision table as a grid, with its version and who deployed it when (process owners)."""
    return jsonify(table(decision_catalog.get_table(process_id=process_id, decision_id=decision_id,
                                                    user=current_user())))


@bp.put("/processes/<process_id>/decisions/<decision_id>")
def update_decision_table(process_id: str, decision_id: str) -> Response:
    """Replace the rules; checked for gaps, overlaps and unreadable cells, then deployed as a new version."""
    payload = fields_of(json_object(), ("rows", "expected_version"))
    rows, version = _rows(payload), _version(payload)
    return jsonify(table(decision_catalog.save_table(process_id=process_id, decision_id=decision_id, rows=rows,
                                                     user=current_user(), expected_version=version)))


CELL = {"type": "string", "maxLength": MAX_CELL}
TEXTS = {"type": "array", "minItems": 1, "maxItems": MAX_COLUMNS, "items": CELL}
ROW = obj({"cells": {**TEXTS, "description": "One per input, in column order: `-` (anything), `? < 50000`, "
                     "`50000 <= ? < 200000`, `? >= 10`, a number or a quoted text"},
           "outputs": {**TEXTS, "description": "One per output, among its allowed values when it has them"}},
          additionalProperties=False)
KEY = {"type": "string", "minLength": 1, "maxLength": 80}
openapi.SCHEMAS.update({
    "DecisionTable": obj({
        "process_id": STR, "process_name": STR, "decision_id": STR, "name": STR,
        "version": {**INT, "description": "The process version the table belongs to; send it back to save"},
        "deployed_at": TIME, "deployed_by": nullable(ref("UserRef")),
        "inputs": {"type": "array", "items": obj({"label": STR})},
        "outputs": {"type": "array", "items": obj({"label": STR, "allowed": {
            "type": "array", "items": STR, "description": "The values allowed; empty: any text"}})},
        "rows": {"type": "array", "items": ROW},
    }),
    "DecisionTableList": obj({"items": {"type": "array", "items": ref("DecisionTable")}}),
    "DecisionTableUpdate": obj({
        "rows": {"type": "array", "minItems": 1, "maxItems": MAX_ROWS, "items": ROW},
        "expected_version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION, "description": (
            "The version you edited; 409 when someone saved a newer one meanwhile")},
    }, additionalProperties=False),
})
TABLE = [{"name": "process_id", "in": "path", "required": True, "schema": KEY},
         {"name": "decision_id", "in": "path", "required": True, "schema": KEY}]
openapi.PATHS.update({
    "/processes/decisions": {"get": operation(
        "listDecisionTables", "Every deployed decision table (process owners)", "processes",
        responses("200", "DecisionTableList", "401", "403"))},
    "/processes/{process_id}/decisions/{decision_id}": {
        "get": operation("getDecisionTable", "A decision table as a grid (process owners)", "processes",
                         responses("200", "DecisionTable", "401", "403", "404"), params=TABLE),
        "put": operation("updateDecisionTable", "Replace the rules; deployed as a new process version when they "
                         "pass every check (no gap, no overlap, readable cells, allowed outputs)", "processes",
                         responses("200", "DecisionTable", "400", "401", "403", "404", "409", "422", "500"),
                         body="DecisionTableUpdate", params=TABLE),
    },
})
