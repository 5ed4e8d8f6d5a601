"""Spreadsheets in and out: a guarded reader for uploads (.xlsx, .csv) and an .xlsx writer for exports."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 60 * 1024 * 1024  # a zip bomb stops here, before openpyxl inflates it
MAX_ROWS = 20_000
MAX_COLUMNS = 60
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SHEET_TITLE_FORBIDDEN = re.compile(r"[/\\?*\[\]:\x00-\x1f]")  # Excel refuses these (and control characters)
MAX_SHEET_TITLE = 31


class SpreadsheetError(Invalid):
    """The uploaded file cannot be read as a table; nothing was written."""

    def __init__(self, message: str, /, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message, {"file": [str(_(message, **params))]}, code=code, **params)


@dataclass(frozen=True)
class Table:
    """An uploaded sheet: the header row and the data rows, every cell as trimmed text."""

    headers: list[str]
    rows: list[list[str]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _table(raw_rows: Iterable[Sequence[Any]]) -> Table:
    rows: list[list[str]] = []
    for raw in raw_rows:
        if len(rows) > MAX_ROWS:
            raise SpreadsheetError("文件超过 %(count)s 行，请分批导入", code="file_too_many_rows", count=MAX_ROWS)
        if len(raw) > MAX_COLUMNS and any(_text(value) for value in raw[MAX_COLUMNS:]):
            raise SpreadsheetError("文件超过 %(count)s 列", code="file_too_many_columns", count=MAX_COLUMNS)
        cells = [_text(value) for value in raw[:MAX_COLUMNS]]
        while cells and cells[-1] == "":
            cells.pop()
        rows.append(cells)
    while rows and not any(rows[-1]):
        rows.pop()
    while rows and not any(rows[0]):
        rows.pop(0)
    if not rows:
        raise SpreadsheetError("文件是空的：第一行应为列标题，其后为数据")
    headers = rows[0]
    if any(not header for header in headers):
        raise SpreadsheetError("第一行的每一列都应有标题")
    if len(set(headers)) != len(headers):
        raise SpreadsheetError("第一行有重复的列标题")
    data = [row + [""] * (len(headers) - len(row)) for row in rows[1:]]
    if any(len(row) > len(headers) for row in data):
        raise SpreadsheetError("有数据超出了标题所在的列")
    if not any(any(row) for row in data):
        raise SpreadsheetError("文件只有标题行，没有数据")
    return Table(headers=headers, rows=data)


def read_table(data: bytes, filename: str) -> Table:
    """Read the first sheet of an .xlsx (or a UTF-8/GBK .csv) upload; SpreadsheetError if it is not one."""
    if not data:
        raise SpreadsheetError("文件是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SpreadsheetError("文件超过 %(size)s MB", code="file_too_large", size=MAX_UPLOAD_BYTES // (1024 * 1024))
    name = filename.lower()
    if name.endswith(".csv"):
        return _read_csv(data)
    if not name.endswith(".xlsx"):
        raise SpreadsheetError("只支持 .xlsx 和 .csv 文件")
    return _read_xlsx(data)


def _read_xlsx(data: bytes) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNCOMPRESSED_BYTES:
                raise SpreadsheetError("文件解压后过大，请分批导入")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except SpreadsheetError:
        raise
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise SpreadsheetError("无法读取文件：它不是有效的 Excel (.xlsx) 文件") from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise SpreadsheetError("文件中没有工作表")
        # The declared <dimension> is the file's claim, not its content: trusted, every row and every gap
        # before a far-down row is padded to its width (a 5 KB file declaring A1:XFD1048576 costs over 20 s).
        # Read one row and one column past the limits, so that _table can still tell a file that is too big.
        sheet.reset_dimensions()
        return _table(sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS + 1, values_only=True))
    except SpreadsheetError:
        raise
    except Exception as exc:  # openpyxl raises many kinds of errors on damaged sheet XML
        raise SpreadsheetError("无法读取文件：工作表内容已损坏") from exc
    finally:
        workbook.close()


def _read_csv(data: bytes) -> Table:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SpreadsheetError("无法识别 CSV 文件的编码（应为 UTF-8 或 GBK）")
    if "\x00" in text:
        raise SpreadsheetError("无法读取文件：它不是文本格式的 CSV")
    try:
        return _table(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise SpreadsheetError("CSV 格式错误：%(detail)s", code="csv_malformed", detail=str(exc)) from exc


def neutralise(value: Any) -> Any:
    """A cell value that a spreadsheet will show, never evaluate: text starting with = + - @ gets a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def sheet_title(title: str) -> str:
    """A sheet name Excel accepts: / \\ ? * [ ] : become "_", at most 31 characters, no quote at either end."""
    text = SHEET_TITLE_FORBIDDEN.sub("_", title)[:MAX_SHEET_TITLE].strip().strip("'").strip()
    return text or "Sheet1"


def write_xlsx(*, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """An .xlsx with one sheet: a bold header row, then the rows; formulas are never written."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title(title))
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=neutralise(header))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=neutralise(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never let openpyxl take text for a formula
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
