"""Attachments (附件) of the record types declared with them: bytes stored once by content hash, rows scoped by
their record."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bpm_crm.errors import Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Attachment, User
from bpm_crm.services import audit
from bpm_crm.services.records import RECORDS, RecordType
from bpm_crm.services.transaction import unit_of_work

MAX_BYTES = 10 * 1024 * 1024
OCTET_STREAM = "application/octet-stream"
# Types a browser may be told about: none of them can run script. Everything else is a plain download.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"<>|:*?]')


def storage_dir() -> Path:
    """Where the bytes live: ATTACHMENTS_DIR, by default <instance>/attachments."""
    configured = current_app.config.get("ATTACHMENTS_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def sniff_type(data: bytes) -> str:
    """A safe content type recognised from the file's first bytes, else application/octet-stream."""
    for signature, content_type in SIGNATURES:
        if data.startswith(signature):
            return content_type
    return OCTET_STREAM


def clean_filename(filename: str | None) -> str:
    """The display name: no directories, no control or reserved characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name or "附件"


def record_types() -> list[str]:
    """The record types files can be attached to, in the order declared."""
    return RECORDS.keys(attachments=True)


def _declared(record_type: str) -> RecordType:
    declared = RECORDS.find(record_type)
    if declared is None or not declared.attachments:
        raise NotFound("记录不存在或您无权查看")
    return declared


def _readable(user: User, record_type: str, record_id: int) -> Any:
    """The record, loaded with the user's read check; NotFound otherwise."""
    return _declared(record_type).load(record_id, user)


def _may_update(user: User, declared: RecordType, record: Any) -> bool:
    return record is not None and declared.may_update is not None and declared.may_update(user, record)


def may_update_record(user: User, record_type: str, record_id: int) -> bool:
    """Whether the user may add attachments to (and remove any from) this record."""
    declared = RECORDS.find(record_type)
    if declared is None or not declared.attachments:
        return False
    return _may_update(user, declared, declared.get(record_id))


def may_delete(user: User, attachment: Attachment) -> bool:
    """The uploader, or whoever may update the record, may remove an attachment."""
    return attachment.uploaded_by_id == user.id or may_update_record(user, attachment.record_type,
                                                                      attachment.record_id)


def record_title(*, user: User, record_type: str, record_id: int) -> str:
    """"客户 杭州云启科技 (KH000001)" for the upload page; NotFound when not readable."""
    return _declared(record_type).caption(_readable(user, record_type, record_id))


def list_attachments(*, user: User, record_type: str, record_id: int) -> list[Attachment]:
    """A readable record's attachments, newest first."""
    _readable(user, record_type, record_id)
    return list(db.session.scalars(
        select(Attachment).where(Attachment.record_type == record_type, Attachment.record_id == record_id)
        .options(selectinload(Attachment.uploaded_by)).order_by(Attachment.id.desc())))


def _store(data: bytes, digest: str) -> None:
    directory = storage_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / digest
    if target.exists() and target.stat().st_size == len(data):
        return
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@unit_of_work
def upload(*, user: User, record_type: str, record_id: int, filename: str | None, data: bytes) -> Attachment:
    """Attach a file (1 byte – 10 MB) to a record the user may update; commits."""
    declared = _declared(record_type)
    if not _may_update(user, declared, declared.load(record_id, user)):
        # Names no record type: a record type's label does not read as part of a sentence in every language.
        raise Forbidden("您没有为此记录上传附件的权限", code="attachment_upload_forbidden", record_type=record_type)
    if not data:
        raise Invalid("文件为空，请选择有内容的文件", {"file": ["文件为空，请选择有内容的文件"]})
    if len(data) > MAX_BYTES:
        raise Invalid("文件超过 10 MB 的上限", {"file": ["文件超过 10 MB 的上限"]})
    digest = hashlib.sha256(data).hexdigest()
    _store(data, digest)  # before the row: a row never points at missing bytes
    name = clean_filename(filename)
    attachment = Attachment(record_type=record_type, record_id=record_id, filename=name,
                            content_type=sniff_type(data), size=len(data), sha256=digest, uploaded_by_id=user.id)
    db.session.add(attachment)
    db.session.flush()
    audit.record(record_type=record_type, record_id=record_id, action="update", user_id=user.id,
                 changes={"attachment": [None, name]})
    return attachment


def store_generated(*, record_type: str, record_id: int, filename: str, data: bytes,
                    uploaded_by_id: int | None = None) -> Attachment:
    """Attach a file the system made (a quote's PDF) in place of earlier ones of that name; the caller commits.

    No permission or size check: the caller, not a user, decided that the file belongs to the record. The
    same bytes stored again change nothing, so a retried job leaves one attachment and no audit noise.
    """
    _declared(record_type)
    if not data:
        raise ValueError("a generated file cannot be empty")
    name = clean_filename(filename)
    digest = hashlib.sha256(data).hexdigest()
    earlier = list(db.session.scalars(
        select(Attachment).where(Attachment.record_type == record_type, Attachment.record_id == record_id,
                                 Attachment.filename == name).order_by(Attachment.id)))
    if len(earlier) == 1 and earlier[0].sha256 == digest:
        return earlier[0]
    _store(data, digest)  # before the row: a row never points at missing bytes
    for old in earlier:
        db.session.delete(old)
    attachment = Attachment(record_type=record_type, record_id=record_id, filename=name,
                            content_type=sniff_type(data), size=len(data), sha256=digest,
                            uploaded_by_id=uploaded_by_id)
    db.session.add(attachment)
    db.session.flush()
    audit.record(record_type=record_type, record_id=record_id, action="update", user_id=uploaded_by_id,
                 changes={"attachment": [name if earlier else None, name]})
    return attachment


def get_attachment(*, attachment_id: int, user: User) -> Attachment:
    """An attachment whose record the user may read; NotFound otherwise."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("附件不存在或您无权查看")
    try:
        _readable(user, attachment.record_type, attachment.record_id)
    except NotFound:
        raise NotFound("附件不存在或您无权查看") from None
    return attachment


def read_bytes(attachment: Attachment) -> bytes:
    """The stored bytes of an attachment; NotFound when the store has lost them."""
    path = storage_dir() / attachment.sha256
    if not re.fullmatch(r"[0-9a-f]{64}", attachment.sha256) or not path.is_file():
        raise NotFound("附件文件已丢失，请联系管理员")
    return path.read_bytes()


@unit_of_work
def delete(*, attachment_id: int, user: User) -> Attachment:
    """Remove an attachment (its uploader or the record's updater); commits.

    The bytes stay in the store: the same content may belong to other rows or to records in the recycle bin.
    """
    attachment = get_attachment(attachment_id=attachment_id, user=user)
    if not may_delete(user, attachment):
        raise Forbidden("只有上传人或有权修改该记录的人可以删除附件")
    audit.record(record_type=attachment.record_type, record_id=attachment.record_id, action="update",
                 user_id=user.id, changes={"attachment": [attachment.filename, None]})
    db.session.delete(attachment)
    return attachment
