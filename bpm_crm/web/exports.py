"""Excel downloads of list pages: the same scoped query as the page, every row, formulas neutralised."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from flask import Response

from bpm_crm import clock
from bpm_crm.services.excel import write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 100_000


def xlsx_response(*, name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """An attachment download named "<name>-<date>.xlsx" (UTF-8 file name for Chinese names)."""
    data = write_xlsx(title=name, headers=[str(h) for h in headers], rows=rows)
    filename = f"{name}-{clock.now().date().isoformat()}.xlsx"
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=export.xlsx; filename*=UTF-8''{quote(filename)}")
    response.headers["Cache-Control"] = "no-store"
    return response
