"""Excel downloads of list pages: the same scoped query as the page, every row, formulas neutralised."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Response
from flask_babel import gettext, to_user_timezone

from bpm_crm import clock
from bpm_crm.services.excel import write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 100_000


def local_cell(value: Any) -> Any:
    """A cell as the pages show it: stored times (UTC) in the configured time zone, flags as 是/否."""
    if isinstance(value, datetime):
        return to_user_timezone(value).replace(tzinfo=None)
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    return value


def xlsx_response(*, name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """An attachment download named "<name>-<date>.xlsx" (UTF-8 file name for Chinese names), times local."""
    local_rows = ([local_cell(value) for value in row] for row in rows)
    data = write_xlsx(title=name, headers=[str(h) for h in headers], rows=local_rows)
    filename = f"{name}-{to_user_timezone(clock.now()).date().isoformat()}.xlsx"
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=export.xlsx; filename*=UTF-8''{quote(filename)}")
    response.headers["Cache-Control"] = "no-store"
    return response
