"""Attachment pages: upload to a record, download (safe headers), delete; the list partial's helpers."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, gettext
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, NotFound
from bpm_crm.file_transfer import MAX_REQUEST_BYTES, download_response
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Attachment
from bpm_crm.services import attachments
from bpm_crm.services.records import RECORDS
from bpm_crm.web.pages import act, signed_in
from bpm_crm.web.redirects import safe_next

bp = Blueprint("attachments", __name__, url_prefix="/attachments")

ICONS = {"application/pdf": "file-earmark-pdf", "image/png": "file-earmark-image",
         "image/jpeg": "file-earmark-image", "image/gif": "file-earmark-image"}



@bp.record_once
def _limit_request_size(state: Any) -> None:
    """Cap request bodies app-wide unless configured: no page needs more than an attachment."""
    app: Flask = state.app
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024


def _record_url(record_type: str, record_id: int) -> str:
    declared = RECORDS.get(record_type)
    if declared.endpoint is None:
        return url_for("inbox.index")
    return url_for(declared.endpoint, **{declared.id_arg: record_id})


def _back(record_type: str, record_id: int) -> str:
    """The page to return to: a local path given as ?next=, else the record's page."""
    return safe_next(request.args.get("next")) or _record_url(record_type, record_id)


def _record_args() -> tuple[str, int]:
    record_type = request.args.get("record_type") or request.form.get("record_type") or ""
    record_id = parse_id(request.args.get("record_id") or request.form.get("record_id"))
    if record_type not in attachments.record_types() or not record_id:
        raise NotFound("记录不存在或您无权查看")
    return record_type, record_id


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    flash(gettext("文件超过 10 MB 的上限"), "danger")
    return redirect(request.full_path if request.method == "POST" else url_for("inbox.index"))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def upload():
    """The upload form (GET) and the multipart upload (POST) for ?record_type=…&record_id=."""
    record_type, record_id = _record_args()
    user = signed_in()
    title = attachments.record_title(user=user, record_type=record_type, record_id=record_id)
    back = _back(record_type, record_id)
    if not attachments.may_update_record(user, record_type, record_id):
        flash(gettext("您没有为此记录上传附件的权限"), "warning")
        return redirect(back)
    error = None
    if request.method == "POST":
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            error = gettext("文件超过 10 MB 的上限")
        else:
            request.max_content_length = MAX_REQUEST_BYTES
            upload_file = request.files.get("file")
            if upload_file is None or not upload_file.filename:
                error = gettext("请选择要上传的文件")
            else:
                try:
                    data = upload_file.stream.read(attachments.MAX_BYTES + 1)
                    saved = attachments.upload(user=user, record_type=record_type, record_id=record_id,
                                               filename=upload_file.filename, data=data)
                except DomainError as exc:
                    error = translate(exc)
                else:
                    flash(gettext("附件“%(name)s”已上传", name=saved.filename), "success")
                    return redirect(back)
    status = 422 if error else 200
    return render_template("attachments/upload.html", title=title, back=back, record_type=record_type,
                           record_id=record_id, error=error), status


@bp.get("/<id:attachment_id>")
@login_required
def download(attachment_id: int):
    """Download an attachment of a record the user may read."""
    attachment = attachments.get_attachment(attachment_id=attachment_id, user=signed_in())
    return download_response(attachment, attachments.read_bytes(attachment))


@bp.post("/<id:attachment_id>/delete")
@login_required
def delete(attachment_id: int):
    """Remove an attachment (its uploader or whoever may update the record)."""
    attachment = attachments.get_attachment(attachment_id=attachment_id, user=signed_in())
    back = _back(attachment.record_type, attachment.record_id)
    name = attachment.filename
    act(lambda: attachments.delete(attachment_id=attachment_id, user=signed_in()),
        success=gettext("附件“%(name)s”已删除", name=name))
    return redirect(back)


@bp.app_template_global()
def may_upload_attachment(record_type: str, record_id: int) -> bool:
    """Whether the signed-in user may attach files to this record (the list partial asks)."""
    return current_user.is_authenticated and attachments.may_update_record(signed_in(), record_type, record_id)


@bp.app_template_global()
def may_delete_attachment(attachment: Attachment) -> bool:
    return current_user.is_authenticated and attachments.may_delete(signed_in(), attachment)


@bp.app_template_global()
def attachment_icon(attachment: Attachment) -> str:
    return ICONS.get(attachment.content_type, "file-earmark")


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    """1536 -> "1.5 KB"."""
    value = float(size or 0)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{format_decimal(round(value, 1))} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value} MB"
