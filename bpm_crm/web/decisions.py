"""决策表 (阈值表): the process owner reads and edits a decision table as a grid; saving deploys a new version."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.error_messages import translate
from bpm_crm.errors import Conflict, Invalid
from bpm_crm.services import decision_catalog
from bpm_crm.services.decision_catalog import DeployedTable
from bpm_crm.web.pages import signed_in

bp = Blueprint("decisions", __name__, url_prefix="/processes")

MAX_ROWS = 100
Rows = list[tuple[list[str], list[str]]]


def _posted_rows(table: DeployedTable) -> Rows:
    """The grid as posted: column by column (cell-0 …, output-0 …), each list in row order."""
    grid = table.grid
    cells = [request.form.getlist(f"cell-{index}") for index in range(len(grid.inputs))]
    outputs = [request.form.getlist(f"output-{index}") for index in range(len(grid.outputs))]
    columns = cells + outputs
    count = len(columns[0]) if columns else 0
    if count > MAX_ROWS or any(len(column) != count for column in columns):
        raise Invalid("请更正标出的字段", {"rows": [gettext("最多 %(count)s 行，且每行的格数须相同", count=MAX_ROWS)]})
    return [([column[row] for column in cells], [column[row] for column in outputs]) for row in range(count)]


def _page(table: DeployedTable, rows: Rows, problems: list[str] | None = None, stale: bool = False,
          status: int = 200):
    return render_template("decisions/edit.html", table=table, grid=table.grid, rows=rows, problems=problems or [],
                           stale=stale, max_rows=MAX_ROWS), status


@bp.get("/decisions")
@login_required
def index():
    """Every deployed decision table, with its version and who deployed it when."""
    user = signed_in()
    return render_template("decisions/index.html", tables=decision_catalog.list_tables(user=user))


@bp.route("/<process_id>/decisions/<decision_id>", methods=["GET", "POST"])
@login_required
def edit(process_id: str, decision_id: str):
    """The grid; saving checks every rule and deploys the table as a new version, or shows what is wrong."""
    user = signed_in()
    table = decision_catalog.get_table(process_id=process_id, decision_id=decision_id, user=user)
    if request.method == "GET":
        return _page(table, table.grid.rows)
    rows: Rows = []
    try:
        rows = _posted_rows(table)
        version = request.form.get("version", type=int) or 0
        saved = decision_catalog.save_table(process_id=process_id, decision_id=decision_id, rows=rows, user=user,
                                            expected_version=version)
    except Conflict as exc:
        return _page(table, rows, [translate(exc)], stale=True, status=409)
    except Invalid as exc:
        problems = [translate(message) for message in exc.field_errors.get("rows", [])] or [translate(exc)]
        return _page(table, rows or table.grid.rows, problems, status=422)
    if saved.grid.version == table.grid.version:
        flash(gettext("决策表没有改动，版本不变"), "info")
    else:
        flash(gettext("决策表已保存为版本 %(version)s，新提交的申请按新规则执行", version=saved.grid.version),
              "success")
    return redirect(url_for("decisions.edit", process_id=process_id, decision_id=decision_id))
