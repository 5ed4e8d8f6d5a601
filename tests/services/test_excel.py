"""The spreadsheet reader and writer on their own: sheet titles Excel accepts, files that lie about their size."""
from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from bpm_crm.services import excel
from bpm_crm.services.excel import SpreadsheetError, read_table, sheet_title, write_xlsx


@pytest.mark.parametrize("forbidden", list("/\\?*[]:"))
def test_every_character_excel_forbids_in_a_sheet_title_is_replaced(forbidden):
    title = f"甲{forbidden}乙贸易有限公司 历史订单"
    data = write_xlsx(title=title, headers=["订单号"], rows=[["DD001"]])
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet.title == "甲_乙贸易有限公司 历史订单"
    assert sheet["A2"].value == "DD001"


def test_sheet_titles_are_cut_to_31_characters_and_never_empty_or_quoted():
    long_name = "浙江省杭州市西湖区文三路云启信息科技股份有限公司第一分公司 历史订单"
    assert len(long_name) > 31
    data = write_xlsx(title=long_name, headers=["订单号"], rows=[])
    assert load_workbook(io.BytesIO(data)).worksheets[0].title == long_name[:31]
    assert sheet_title("甲/乙贸易有限公司") == "甲_乙贸易有限公司"
    assert sheet_title("") == sheet_title("   ") == sheet_title("''") == "Sheet1"
    assert sheet_title("'报价'") == "报价"
    assert sheet_title("a\x00b\tc") == "a_b_c"
    assert not re.search(r"[/\\?*\[\]:]", sheet_title("/\\?*[]:" * 10))


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _rewrite_sheet(data: bytes, change) -> bytes:
    """The same .xlsx with the first sheet's XML passed through `change` (to forge what openpyxl never writes)."""
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            content = old.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = change(content.decode()).encode()
            new.writestr(item, content)
    return target.getvalue()


def _declare_dimension(data: bytes, ref: str) -> bytes:
    return _rewrite_sheet(data, lambda xml: re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>', xml))


def test_a_small_file_declaring_the_largest_sheet_is_read_by_its_content_quickly():
    data = _declare_dimension(_xlsx([["客户名称", "电话"], ["杭州云启科技", "0571-1"]]), "A1:XFD1048576")
    assert len(data) < 10_000 and b'ref="A1:XFD1048576"' in zipfile.ZipFile(io.BytesIO(data)).read(
        "xl/worksheets/sheet1.xml")
    started = time.process_time()
    table = read_table(data, "customers.xlsx")
    assert time.process_time() - started < 2
    assert table.headers == ["客户名称", "电话"] and table.rows == [["杭州云启科技", "0571-1"]]


def _bottom_row(xml: str) -> str:
    return xml.replace("</sheetData>", '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>底</t></is></c></row>'
                                       "</sheetData>")


def test_a_row_at_the_bottom_of_a_sheet_declared_full_size_meets_the_row_limit_quickly():
    data = _declare_dimension(_rewrite_sheet(_xlsx([["客户名称"], ["杭州云启科技"]]), _bottom_row), "A1:XFD1048576")
    assert len(data) < 10_000
    started = time.process_time()
    with pytest.raises(SpreadsheetError) as refused:
        read_table(data, "customers.xlsx")
    assert time.process_time() - started < 2
    assert str(excel.MAX_ROWS) in refused.value.message


def test_columns_are_read_up_to_the_limit_only():
    wide = _xlsx([[f"列{i}" for i in range(excel.MAX_COLUMNS + 1)], ["x"] * (excel.MAX_COLUMNS + 1)])
    with pytest.raises(SpreadsheetError) as too_wide:
        read_table(_declare_dimension(wide, "A1:XFD1048576"), "wide.xlsx")
    assert str(excel.MAX_COLUMNS) in too_wide.value.message

    far_right = _rewrite_sheet(_xlsx([["客户名称"], ["杭州云启科技"]]), lambda xml: xml.replace(
        "</row>", '<c r="XFD1" t="inlineStr"><is><t>远</t></is></c></row>', 1))
    started = time.process_time()
    table = read_table(_declare_dimension(far_right, "A1:XFD1048576"), "customers.xlsx")
    assert time.process_time() - started < 2
    assert table.headers == ["客户名称"] and table.rows == [["杭州云启科技"]]
