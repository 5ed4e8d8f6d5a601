"""Files over HTTP, the same for pages and the API: how large an upload request may be, how a download is sent."""
from __future__ import annotations

from urllib.parse import quote as url_quote

from flask import Response

from bpm_crm.models import Attachment
from bpm_crm.services import attachments

# A whole upload request may carry the file plus the form fields; anything beyond is refused unread.
MAX_REQUEST_BYTES = attachments.MAX_BYTES + 1024 * 1024


def download_response(attachment: Attachment, data: bytes) -> Response:
    """The bytes as a download: never rendered inline, never sniffed, UTF-8 file name (pages and API)."""
    response = Response(data, mimetype=attachment.content_type or attachments.OCTET_STREAM)
    ascii_name = attachment.filename.encode("ascii", "ignore").decode().replace('"', "").strip() or "attachment"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{url_quote(attachment.filename, safe='')}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
