"""The one place failures become pages (or JSON under /api/)."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from bpm_crm.error_messages import params_json, translate, translate_fields
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.i18n import _
from bpm_crm.input_rules import storable
from bpm_crm.web import kept_forms

log = logging.getLogger(__name__)

TITLES = {
    400: _("请求有误"),
    401: _("请先登录"),
    403: _("没有权限"),
    404: _("页面不存在"),
    405: _("不支持的操作"),
    409: _("操作冲突"),
    413: _("提交的内容过大"),
    422: _("输入有误"),
    500: _("系统出错了"),
}
MESSAGES = {
    400: _("请求格式不正确，请返回后重试。"),
    401: _("请先登录后再访问此页面。"),
    403: _("您没有执行此操作的权限。"),
    404: _("您要找的页面不存在，或您无权查看。"),
    405: _("该页面不支持此操作。"),
    409: _("记录已被他人修改，请刷新后重试。"),
    413: _("提交的内容超过了上限，请减少内容后重试。"),
    422: _("请更正输入后重试。"),
    500: _("服务器处理请求时出错，我们已记录此问题，请稍后重试。"),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _json(status: int, message: str, fields: dict[str, list[str]] | None = None, exc: DomainError | None = None):
    body: dict[str, Any] = {"message": message, "fields": fields or {}}
    if exc is not None:  # the API's shape: the machine code and the values beside the text
        body["code"] = exc.code
        if exc.params:
            body["params"] = params_json(exc.params)
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _page(status: int, message: str | None = None):
    known = status if status in TITLES else (500 if status >= 500 else 400)
    text = message or str(MESSAGES[known])
    # After a server error the database session may be unusable: skip the navigation counts.
    return render_template("errors/error.html", status=status, title=TITLES[known], message=text,
                           minimal=status >= 500), status


def _domain_error(exc: DomainError):
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.path, exc.message)
    if _wants_json():
        fields = translate_fields(exc.field_errors) if isinstance(exc, Invalid) else None
        return _json(exc.status, translate(exc), fields, exc)
    message = translate(exc)
    if isinstance(exc, Invalid) and exc.field_errors:
        # A page has no form to put these under (a bad query parameter, say): name them in the message.
        details = "；".join(f"{name}：{'、'.join(translate(m) for m in messages)}"
                           for name, messages in exc.field_errors.items())
        message = f"{message}（{details}）"
    return _page(exc.status, message)


def _csrf_error(exc: CSRFError):
    if _wants_json():
        return _json(400, exc.description)
    # An expired session or token is no dead end: the form is kept and the user signs in again if need be.
    return kept_forms.lost_session(signed_out=not current_user.is_authenticated)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        original = getattr(exc, "original_exception", None)
        log.error("%s %s failed", request.method, request.path, exc_info=original or exc)
    if _wants_json():
        message = str(MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400]))
        return _json(status, message)
    return _page(status)


def _undecodable(part: bytes) -> bool:
    """Whether a urlencoded name or value is not UTF-8 text the database can keep."""
    try:
        return not storable(unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8"))
    except UnicodeDecodeError:
        return True


def _refuse_form_field(name: str) -> None:
    shown = name.replace("\x00", "\ufffd")
    raise DomainError("表单字段“%(name)s”含有无效字符（应为 UTF-8 文本）", code="form_field_encoding", name=shown)


def _check_form_text() -> None:
    """Form posts and query strings (a GET form: search, filters) carry UTF-8 text the database can keep only;
    werkzeug would keep bad bytes as %XX text or silently drop the form, and PostgreSQL refuses NUL."""
    _check_pairs(request.query_string)
    # Multipart uploads are left to their views: werkzeug decodes their few text fields with replacement
    # characters, which the views refuse like any other wrong value, and parsing them here would read the
    # file before the view's own size check.
    if request.mimetype == "application/x-www-form-urlencoded":
        _check_pairs(request.get_data(cache=True))  # the form is parsed from this cached copy: read once


def _check_pairs(encoded: bytes) -> None:
    for pair in encoded.split(b"&"):
        name, _sep, value = pair.partition(b"=")
        if _undecodable(name) or _undecodable(value):
            _refuse_form_field(unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace"))


def register_error_handlers(app: Flask) -> None:
    """Friendly pages for people, the JSON error shape for anything under /api/, a 400 for undecodable forms."""
    # First of all before-request hooks: once CSRFProtect has parsed the form, its raw bytes are gone.
    app.before_request_funcs.setdefault(None, []).insert(0, _check_form_text)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _http_error)
