"""The API's one error shape: {"error": {"message", "fields", "code", "params"}}, for every failure under /api/v1."""
from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from bpm_crm.api import bp, public
from bpm_crm.error_messages import params_json, translate, translate_fields
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.i18n import _

log = logging.getLogger(__name__)

MESSAGES = {
    400: _("请求格式错误"),
    401: _("需要有效的访问令牌"),
    403: _("您没有执行此操作的权限"),
    404: _("请求的资源不存在"),
    405: _("该地址不支持此请求方法"),
    409: _("操作与当前状态冲突"),
    413: _("请求体过大"),
    415: _("请求体必须是 JSON"),
    422: _("请更正标出的字段"),
    500: _("服务器内部错误"),
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def error_response(status: int, message: str | None = None, fields: dict[str, list[str]] | None = None,
                   code: str | None = None, params: dict[str, Any] | None = None) -> Response:
    """A JSON error body with the HTTP status; the message defaults to the status's plain meaning."""
    text = message or str(MESSAGES.get(status, _("请求失败")))
    body: dict[str, Any] = {"message": text, "fields": fields or {}}
    if code:
        body["code"] = code
    if params:
        body["params"] = params_json(params)
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bpm-crm"'
    return response


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    if exc.status >= 500:
        log.error("API %s %s failed: %s", request.method, request.path, exc.message)
    fields = translate_fields(exc.field_errors) if isinstance(exc, Invalid) else None
    return error_response(exc.status, translate(exc), fields, code=exc.code, params=exc.params)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = None if status >= 500 or exc.description == type(exc).description else exc.description
    response = error_response(status, message)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.errorhandler(InternalServerError)
def _server_error(exc: InternalServerError) -> Response:
    log.exception("API %s %s failed", request.method, request.path, exc_info=exc.original_exception)
    return error_response(500)


@bp.route("/", defaults={"rest": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/<path:rest>", methods=METHODS)
@public
def unknown_path(rest: str) -> Response:
    """404 for an unknown path, 405 (with Allow) for a known path asked with the wrong method."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _args = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        response = error_response(405)
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404)
