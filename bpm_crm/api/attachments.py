"""Attachments (附件) of records: list, upload (multipart), download, delete."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.openapi import INT, JSON, STR, TIME, nullable, obj, operation, path_id, query, ref, responses
from bpm_crm.errors import Invalid
from bpm_crm.file_transfer import MAX_REQUEST_BYTES, download_response
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Attachment
from bpm_crm.services import attachments


def attachment(row: Attachment) -> dict[str, Any]:
    return {"id": row.id, "record_type": row.record_type, "record_id": row.record_id, "filename": row.filename,
            "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            "uploaded_by": schemas.user_ref(row.uploaded_by), "created_at": schemas.timestamp(row.created_at),
            "download_url": url_for("api.download_attachment", attachment_id=row.id)}


def _record(source: Any) -> tuple[str, int]:
    record_type = source.get("record_type")
    raw_id = source.get("record_id")
    errors: dict[str, list[str]] = {}
    if record_type not in attachments.record_types():
        errors["record_type"] = [str(_("应为以下之一：%(values)s", values="、".join(attachments.record_types())))]
    record_id = parse_id(raw_id) if isinstance(raw_id, str) else None
    if record_id is None:
        errors["record_id"] = [str(_("应为记录编号（整数）"))]
    if errors or record_id is None:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return str(record_type), record_id


@bp.get("/attachments")
def list_attachments() -> Response:
    """The attachments of one readable record, newest first."""
    record_type, record_id = _record(request.args)
    rows = attachments.list_attachments(user=current_user(), record_type=record_type, record_id=record_id)
    return jsonify({"items": [attachment(row) for row in rows]})


@bp.post("/attachments")
def upload_attachment() -> tuple[Response, int, dict[str, str]]:
    """Attach a file (multipart/form-data: record_type, record_id, file) to a record you may update."""
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise Invalid(str(_("文件超过 10 MB 的上限")), {"file": [str(_("文件超过 10 MB 的上限"))]})
    request.max_content_length = MAX_REQUEST_BYTES
    if not request.mimetype == "multipart/form-data":
        raise Invalid(str(_("请以 multipart/form-data 上传文件")), {"file": [str(_("必填"))]})
    record_type, record_id = _record(request.form)
    upload = request.files.get("file")
    if upload is None:
        raise Invalid(str(_("请选择要上传的文件")), {"file": [str(_("必填"))]})
    row = attachments.upload(user=current_user(), record_type=record_type, record_id=record_id,
                             filename=upload.filename, data=upload.stream.read(attachments.MAX_BYTES + 1))
    location = url_for("api.download_attachment", attachment_id=row.id)
    return jsonify(attachment(row)), 201, {"Location": location}


@bp.get("/attachments/<id:attachment_id>")
def download_attachment(attachment_id: int) -> Response:
    """The file itself, as a download."""
    row = attachments.get_attachment(attachment_id=attachment_id, user=current_user())
    return download_response(row, attachments.read_bytes(row))


@bp.delete("/attachments/<id:attachment_id>")
def delete_attachment(attachment_id: int) -> tuple[str, int]:
    """Remove an attachment (its uploader or whoever may update the record)."""
    attachments.delete(attachment_id=attachment_id, user=current_user())
    return "", 204


RECORD_TYPE = {"enum": attachments.record_types()}
openapi.SCHEMAS.update({
    "Attachment": obj({
        "id": INT, "record_type": RECORD_TYPE, "record_id": INT, "filename": STR,
        "content_type": {"type": "string", "description": "Sniffed safe type, else application/octet-stream"},
        "size": INT, "sha256": STR, "uploaded_by": nullable(ref("UserRef")), "created_at": TIME,
        "download_url": STR,
    }),
    "AttachmentList": obj({"items": {"type": "array", "items": ref("Attachment")}}),
    "AttachmentUpload": obj({
        "record_type": RECORD_TYPE, "record_id": INT,
        "file": {"type": "string", "format": "binary", "description": "1 byte to 10 MB"}}),
})
ATTACHMENT = [path_id("attachment_id")]
TOO_LARGE = {"413": {"description": "The request is larger than an attachment may be",
                     "content": {JSON: {"schema": ref("Error")}}}}
openapi.PATHS.update({
    "/attachments": {
        "get": operation("listAttachments", "The attachments of a record", "attachments",
                         responses("200", "AttachmentList", "401", "404", "422"), params=[
                             {**query("record_type", RECORD_TYPE), "required": True},
                             {**query("record_id", INT), "required": True}]),
        "post": {**operation("uploadAttachment", "Upload a file to a record you may update",
                             "attachments", {**responses("201", "Attachment", "401", "403", "404", "422", headers={
                                 "Location": {"schema": STR, "description": "Download URL"}}), **TOO_LARGE}),
                 "requestBody": {"required": True, "content": {"multipart/form-data": {
                     "schema": ref("AttachmentUpload"), "encoding": {"file": {
                         "contentType": "application/octet-stream"}}}}}},
    },
    "/attachments/{attachment_id}": {
        "get": operation("downloadAttachment", "Download the file", "attachments", {
            "200": {"description": "The file, as an attachment (Content-Disposition with a UTF-8 filename*)",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                    "headers": {"Content-Disposition": {"schema": STR},
                                "X-Content-Type-Options": {"schema": {"const": "nosniff"}}}},
            **{code: {"$ref": f"#/components/responses/E{code}"} for code in ("401", "404")}},
            params=ATTACHMENT),
        "delete": operation("deleteAttachment", "Remove an attachment (uploader or record updater)",
                            "attachments", responses("204", None, "401", "403", "404"), params=ATTACHMENT),
    },
})
