"""Import pages: upload, mapping, preview of every row, commit all or nothing, result."""
from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, ImportJob

from .helpers import page_text

HEADERS = ["公司名称", "联系电话", "纳税人识别号", "地区", "等级", "备忘"]
ROWS = [["杭州鑫达机械有限公司", "0571-88886666", "91330100MA27XYZ01A", "浙江省/杭州市", "重点", "展会认识"],
        ["苏州恒通物流有限公司", "13812345678", "", "江苏省/苏州市", "", ""]]


def xlsx(headers=HEADERS, rows=ROWS) -> io.BytesIO:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer


def upload(browser, data: io.BytesIO | bytes, filename="客户.xlsx", kind="customers"):
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return browser.post("/imports/", data={"kind": kind, "file": (stream, filename)},
                        content_type="multipart/form-data")


def latest_job() -> ImportJob:
    return db.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))


def customers() -> int:
    return db.session.scalar(select(func.count()).select_from(Customer)) or 0


def test_upload_map_preview_and_commit(login):
    browser = login("manager1")
    index = browser.get("/imports/")
    assert index.status_code == 200
    assert "导入客户和联系人" in page_text(index) and 'id="upload-form"' in page_text(index)
    response = upload(browser, xlsx())
    assert response.status_code == 302
    job = latest_job()
    assert response.headers["Location"].endswith(f"/imports/{job.id}")

    page = browser.get(f"/imports/{job.id}")
    text = page_text(page)
    assert page.status_code == 200
    assert 'data-count="ready">2<' in text and 'data-count="error">0<' in text
    assert 'value="name" selected' in text and 'value="tax_no" selected' in text  # guessed from the headers
    assert text.count('data-status="ok"') == 2
    assert "确认导入 2 条" in text and 'id="commit-import" disabled' not in text.replace("\n", "")

    # the 备忘 column is not known: map it to remarks by hand and choose the phone rule
    response = browser.post(f"/imports/{job.id}/mapping", data={
        "col-0": "name", "col-1": "phone", "col-2": "tax_no", "col-3": "region", "col-4": "level",
        "col-5": "remarks", "duplicate_rule": "phone"})
    assert response.status_code == 302
    assert customers() == 0, "nothing is written before the commit"

    response = browser.post(f"/imports/{job.id}/commit", follow_redirects=True)
    text = page_text(response)
    assert response.status_code == 200
    assert "导入完成" in text and 'data-count="created">2<' in text
    assert "杭州鑫达机械有限公司" in text and "KH" in text
    assert db.session.scalar(select(Customer.remarks).where(Customer.name == "杭州鑫达机械有限公司")) == "展会认识"

    again = browser.post(f"/imports/{job.id}/commit", follow_redirects=True)
    assert "此导入已提交过" in page_text(again)
    assert customers() == 2
    listing = page_text(browser.get("/imports/"))
    assert "已导入" in listing and "客户.xlsx" in listing


def test_a_file_with_a_bad_row_shows_it_and_cannot_be_committed(login):
    browser = login("manager1")
    upload(browser, xlsx(rows=[*ROWS, ["", "电话", "", "火星", "钻石", ""]]))
    job = latest_job()
    text = page_text(browser.get(f"/imports/{job.id}"))
    assert 'data-count="error">1<' in text and 'data-line="4" data-status="error"' in text
    assert "“客户名称”必填" in text and "不在数据字典中" in text
    assert 'id="commit-import" disabled' in text
    errors_only = page_text(browser.get(f"/imports/{job.id}?show=error"))
    assert errors_only.count("data-line=") == 1
    response = browser.post(f"/imports/{job.id}/commit")
    assert response.status_code == 422
    assert "整个导入已取消" in page_text(response)
    assert customers() == 0


def test_broken_files_get_a_clear_error_on_the_upload_form(login):
    browser = login("manager1")
    for data, filename, message in [
        (b"not a workbook", "x.xlsx", "不是有效的 Excel"),
        (b"name\n", "x.txt", "只支持 .xlsx 和 .csv"),
        (xlsx(rows=[]), "x.xlsx", "只有标题行"),
    ]:
        response = upload(browser, data, filename)
        assert response.status_code == 422
        assert message in page_text(response)
    response = browser.post("/imports/", data={"kind": "customers"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "请选择要上传的文件" in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_mapping_errors_are_shown_and_nothing_changes(login):
    browser = login("manager1")
    upload(browser, xlsx())
    job = latest_job()
    response = browser.post(f"/imports/{job.id}/mapping", data={"col-0": "", "col-1": "phone",
                                                                 "duplicate_rule": "name"})
    assert response.status_code == 422
    assert "必填字段未对应到任何列" in page_text(response)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).mapping["公司名称"] == "name"


def test_someone_elses_job_is_not_found_and_agents_may_not_import(login):
    upload(login("manager1"), xlsx())
    job = latest_job()
    other = login("manager2")
    assert other.get(f"/imports/{job.id}").status_code == 404
    assert other.post(f"/imports/{job.id}/commit").status_code == 404
    assert other.post(f"/imports/{job.id}/mapping", data={"col-0": "name"}).status_code == 404
    assert login("agent").get("/imports/").status_code == 403
    assert customers() == 0


def test_templates_download_with_every_column(login):
    browser = login("manager1")
    response = browser.get("/imports/template/contacts.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["客户编号", "客户名称", "姓名"] and "生日" in headers
    assert browser.get("/imports/template/orders.xlsx").status_code == 404


def test_pages_in_english(login):
    browser = login("manager1")
    browser.post("/language", data={"locale": "en", "next": "/imports/"})
    upload(browser, xlsx(rows=[["", "x", "", "", "", ""]]))
    job = latest_job()
    response = browser.get(f"/imports/{job.id}")
    assert response.status_code == 200
