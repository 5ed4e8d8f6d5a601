"""Attachment API: multipart upload, list, download bytes and headers, limits, scope, delete."""
from __future__ import annotations

import io

import pytest

from bpm_crm.extensions import db
from bpm_crm.models import Customer
from bpm_crm.services import attachments

from .helpers import assert_error


@pytest.fixture(autouse=True)
def store(app, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id)
    db.session.add(record)
    db.session.commit()
    return record


def post(client, headers, record_id, data: bytes, filename="营业执照.pdf", record_type="customer"):
    return client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data", data={
        "record_type": record_type, "record_id": str(record_id), "file": (io.BytesIO(data), filename)})


def test_upload_list_download_delete(client, auth, users):
    mine = customer(users["manager1"])
    headers = auth("manager1")
    payload = b"%PDF-1.7\n" + bytes(range(256)) * 10
    response = post(client, headers, mine.id, payload)
    assert response.status_code == 201, response.json
    row = response.json
    assert (row["filename"], row["size"], row["content_type"]) == ("营业执照.pdf", len(payload), "application/pdf")
    assert row["uploaded_by"]["username"] == "manager1"

    listing = client.get(f"/api/v1/attachments?record_type=customer&record_id={mine.id}", headers=headers)
    assert [item["id"] for item in listing.json["items"]] == [row["id"]]
    download = client.get(row["download_url"], headers=headers)
    assert download.status_code == 200 and download.data == payload
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7.pdf" in download.headers["Content-Disposition"]

    assert client.delete(f"/api/v1/attachments/{row['id']}", headers=headers).status_code == 204
    assert_error(client.get(row["download_url"], headers=headers), 404)


def test_bad_uploads_are_clear_errors(client, auth, users):
    mine = customer(users["manager1"])
    headers = auth("manager1")
    error = assert_error(post(client, headers, mine.id, b""), 422)
    assert error["fields"] == {"file": ["文件为空，请选择有内容的文件"]}
    error = assert_error(post(client, headers, mine.id, b"x" * (attachments.MAX_BYTES + 1)), 422)
    assert error["message"] == "文件超过 10 MB 的上限"
    error = assert_error(post(client, headers, "x", b"abc", record_type="order"), 422)
    assert set(error["fields"]) == {"record_type", "record_id"}
    assert_error(client.post("/api/v1/attachments", headers=headers, json={"record_type": "customer"}), 422)
    assert_error(client.get("/api/v1/attachments?record_type=customer", headers=headers), 422)


def test_another_users_record_is_404(client, auth, users):
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    row = post(client, auth("manager2"), theirs.id, b"secret").json
    headers = auth("manager1")
    assert_error(post(client, headers, theirs.id, b"abc"), 404)
    assert_error(client.get(f"/api/v1/attachments?record_type=customer&record_id={theirs.id}", headers=headers), 404)
    response = client.get(f"/api/v1/attachments/{row['id']}", headers=headers)
    assert_error(response, 404)
    assert b"secret" not in response.data
    assert_error(client.delete(f"/api/v1/attachments/{row['id']}", headers=headers), 404)
    assert_error(client.delete(f"/api/v1/attachments/{row['id']}", headers=auth("agent")), 403)
