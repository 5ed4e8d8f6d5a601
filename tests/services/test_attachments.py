"""Attachments: stored by content hash, size limits, scope of the record, who may delete."""
from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Customer
from bpm_crm.services import attachments, quotes

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def store(app, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")
    return tmp_path / "files"


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id if owner else None)
    db.session.add(record)
    db.session.commit()
    return record


def count() -> int:
    return db.session.scalar(select(func.count(Attachment.id))) or 0


def test_upload_and_read_back_identical_bytes_stored_once_by_hash(users, store):
    manager = users["manager1"]
    mine = customer(manager)
    row = attachments.upload(user=manager, record_type="customer", record_id=mine.id,
                             filename="C:\\Users\\李明\\营业执照.png", data=PNG)
    digest = hashlib.sha256(PNG).hexdigest()
    assert (row.filename, row.size, row.sha256, row.content_type) == ("营业执照.png", len(PNG), digest, "image/png")
    assert (store / digest).read_bytes() == PNG
    again = attachments.upload(user=manager, record_type="customer", record_id=mine.id, filename="副本.png", data=PNG)
    assert sorted(p.name for p in store.iterdir()) == [digest]

    found = attachments.get_attachment(attachment_id=row.id, user=manager)
    assert attachments.read_bytes(found) == PNG
    listed = attachments.list_attachments(user=manager, record_type="customer", record_id=mine.id)
    assert [a.id for a in listed] == [again.id, row.id]


def test_unknown_content_is_never_labelled_as_something_a_browser_runs(users, store):
    manager = users["manager1"]
    mine = customer(manager)
    html = attachments.upload(user=manager, record_type="customer", record_id=mine.id, filename="../../x.html",
                              data=b"<html><script>alert(1)</script></html>")
    assert html.content_type == "application/octet-stream" and html.filename == "x.html"
    assert attachments.clean_filename('a"b<c>.txt') == "a_b_c_.txt"
    assert attachments.clean_filename("") == "附件"


def test_empty_and_too_large_files_are_refused_clearly(users, store):
    manager = users["manager1"]
    mine = customer(manager)
    with pytest.raises(Invalid) as err:
        attachments.upload(user=manager, record_type="customer", record_id=mine.id, filename="空.txt", data=b"")
    assert err.value.field_errors == {"file": ["文件为空，请选择有内容的文件"]}
    with pytest.raises(Invalid) as err:
        attachments.upload(user=manager, record_type="customer", record_id=mine.id, filename="大.bin",
                           data=b"x" * (attachments.MAX_BYTES + 1))
    assert err.value.message == "文件超过 10 MB 的上限"
    assert count() == 0 and not store.exists()
    exact = attachments.upload(user=manager, record_type="customer", record_id=mine.id, filename="刚好.bin",
                               data=b"x" * attachments.MAX_BYTES)
    assert exact.size == attachments.MAX_BYTES


def test_another_users_record_is_not_found_and_read_only_users_may_not_upload(users, store):
    manager1, manager2 = users["manager1"], users["manager2"]
    theirs = customer(manager2, name="成都蜀味餐饮")
    with pytest.raises(NotFound):
        attachments.upload(user=manager1, record_type="customer", record_id=theirs.id, filename="a.txt", data=b"a")
    row = attachments.upload(user=manager2, record_type="customer", record_id=theirs.id, filename="合同.pdf",
                             data=b"%PDF-1.7")
    with pytest.raises(NotFound):
        attachments.get_attachment(attachment_id=row.id, user=manager1)
    with pytest.raises(NotFound):
        attachments.list_attachments(user=manager1, record_type="customer", record_id=theirs.id)
    with pytest.raises(NotFound):
        attachments.delete(attachment_id=row.id, user=manager1)
    with pytest.raises(NotFound):
        attachments.list_attachments(user=manager1, record_type="opportunity", record_id=1)
    # The agent reads every customer but updates none: he may download, not upload.
    assert attachments.get_attachment(attachment_id=row.id, user=users["agent"]).id == row.id
    with pytest.raises(Forbidden):
        attachments.upload(user=users["agent"], record_type="customer", record_id=theirs.id, filename="a.txt",
                           data=b"a")

    quote = quotes.create_quote(user=manager2, values={"customer_id": theirs.id, "name": "报价",
                                                       "quote_date": date(2026, 11, 20)})
    with pytest.raises(NotFound):
        attachments.upload(user=manager1, record_type="quote", record_id=quote.id, filename="a.txt", data=b"a")
    assert count() == 1


def test_the_uploader_or_the_records_updater_may_delete(users, store):
    manager1 = users["manager1"]
    mine = customer(manager1)
    by_manager = attachments.upload(user=manager1, record_type="customer", record_id=mine.id, filename="a.txt",
                                    data=b"a")
    by_supervisor = attachments.upload(user=users["supervisor1"], record_type="customer", record_id=mine.id,
                                       filename="b.txt", data=b"b")
    with pytest.raises(Forbidden):
        attachments.delete(attachment_id=by_manager.id, user=users["agent"])
    attachments.delete(attachment_id=by_supervisor.id, user=manager1)  # he may update his customer
    attachments.delete(attachment_id=by_manager.id, user=manager1)
    assert count() == 0
