"""Attachment pages: upload to a customer or quote, download headers, size limits, scope, delete."""
from __future__ import annotations

import io
from datetime import date
from urllib.parse import quote as url_quote

import pytest
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Customer
from bpm_crm.services import attachments, quotes

from .helpers import page_text


@pytest.fixture(autouse=True)
def store(app, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")
    return tmp_path / "files"


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def upload(browser, record_type: str, record_id: int, data: bytes, filename: str, **args):
    return browser.post(f"/attachments/new?record_type={record_type}&record_id={record_id}",
                        data={"file": (io.BytesIO(data), filename), **args},
                        content_type="multipart/form-data")


def count() -> int:
    return db.session.scalar(select(func.count(Attachment.id))) or 0


def test_upload_to_a_quote_then_download_identical_bytes_with_safe_headers(login, users):
    mine = customer(users["manager1"])
    quote = quotes.create_quote(user=users["manager1"], values={"customer_id": mine.id, "name": "报价",
                                                                "quote_date": date(2026, 11, 20)})
    browser = login("manager1")
    form = page_text(browser.get(f"/attachments/new?record_type=quote&record_id={quote.id}"))
    assert 'enctype="multipart/form-data"' in form and quote.number in form
    payload = b"<html><script>alert(1)</script></html>" + bytes(range(256))
    response = upload(browser, "quote", quote.id, payload, "报价单 v2.html")
    assert response.status_code == 302 and response.headers["Location"] == f"/quotes/{quote.id}"

    row = db.session.scalar(select(Attachment))
    page = page_text(browser.get(f"/quotes/{quote.id}"))
    assert "报价单 v2.html" in page and f"/attachments/{row.id}" in page and 'id="upload-attachment"' in page

    download = browser.get(f"/attachments/{row.id}")
    assert download.status_code == 200 and download.data == payload
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{url_quote('报价单 v2.html')}" in disposition


def test_empty_and_too_large_uploads_are_refused_with_a_clear_message(login, users):
    mine = customer(users["manager1"])
    browser = login("manager1")
    response = upload(browser, "customer", mine.id, b"", "空.txt")
    assert response.status_code == 422 and "文件为空" in page_text(response)
    response = upload(browser, "customer", mine.id, b"x" * (attachments.MAX_BYTES + 1), "大.bin")
    assert response.status_code == 422 and "文件超过 10 MB 的上限" in page_text(response)
    response = browser.post(f"/attachments/new?record_type=customer&record_id={mine.id}", data={},
                            content_type="multipart/form-data")
    assert response.status_code == 422 and "请选择要上传的文件" in page_text(response)
    assert count() == 0


def test_another_managers_record_and_files_are_404(login, users):
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    row = attachments.upload(user=users["manager2"], record_type="customer", record_id=theirs.id,
                             filename="合同.pdf", data=b"%PDF-1.7 secret")
    browser = login("manager1")
    assert browser.get(f"/attachments/new?record_type=customer&record_id={theirs.id}").status_code == 404
    assert upload(browser, "customer", theirs.id, b"abc", "a.txt").status_code == 404
    response = browser.get(f"/attachments/{row.id}")
    assert response.status_code == 404 and b"secret" not in response.data
    assert browser.post(f"/attachments/{row.id}/delete").status_code == 404
    assert browser.get("/attachments/new?record_type=opportunity&record_id=1").status_code == 404
    assert count() == 1


def test_delete_returns_to_the_record(login, users):
    mine = customer(users["manager1"])
    row = attachments.upload(user=users["manager1"], record_type="customer", record_id=mine.id,
                             filename="营业执照.png", data=b"\x89PNG\r\n\x1a\nxx")
    browser = login("manager1")
    response = browser.post(f"/attachments/{row.id}/delete?next=/quotes/", follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/quotes/"
    assert count() == 0
    evil = attachments.upload(user=users["manager1"], record_type="customer", record_id=mine.id,
                              filename="a.txt", data=b"a")
    response = browser.post(f"/attachments/{evil.id}/delete?next=//evil.example.com/")
    assert "evil.example.com" not in response.headers["Location"]
