"""Bearer tokens: issue and revoke them, and require one on every non-public endpoint."""
from __future__ import annotations

from flask import Response, current_app, g, jsonify, request

from bpm_crm.api import bp, public, schemas
from bpm_crm.api.errors import error_response
from bpm_crm.api.inputs import json_object
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.models import User
from bpm_crm.services import people


def _presented_token() -> str | None:
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    return auth.token


@bp.before_request
def require_token() -> Response | None:
    """Refuse a request to a non-public endpoint without a valid, unexpired token (401)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "public", False):
        return None
    token = _presented_token()
    user = people.user_for_token(token) if token else None
    if user is None:
        response = error_response(401, str(_("访问令牌无效或已过期")) if token else None)
        if token:
            response.headers["WWW-Authenticate"] = 'Bearer realm="bpm-crm", error="invalid_token"'
        return response
    g.api_user = user
    g.api_token = token
    return None


def current_user() -> User:
    """The user the request's token belongs to."""
    return g.api_user


def _throttled(exc: people.LoginThrottled) -> Response:
    """429 in the error shape, with a machine-readable code and Retry-After in seconds."""
    message = str(_("登录失败次数过多，请在 %(minutes)s 分钟后再试", minutes=exc.minutes))
    response = jsonify({"error": {"message": message, "fields": {}, "code": exc.code}})
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.post("/auth/token")
@public
def issue_token() -> tuple[Response, int]:
    """Exchange a username and password for a bearer token."""
    payload = json_object()
    credentials = {name: payload.get(name) for name in ("username", "password")}
    fields = {name: [str(_("必填"))] for name, value in credentials.items() if not isinstance(value, str) or not value}
    if fields:
        raise Invalid(str(_("请填写用户名和密码")), fields)
    try:
        user = people.authenticate(username=str(credentials["username"]), password=str(credentials["password"]),
                                   channel="api", ip=request.remote_addr, user_agent=request.user_agent.string)
    except people.LoginThrottled as exc:
        return _throttled(exc), 429
    if user is None:
        return error_response(401, str(_("用户名或密码错误"))), 401
    token, row = people.issue_api_token(user=user, ttl_hours=current_app.config["API_TOKEN_TTL_HOURS"])
    response = jsonify({"token": token, "token_type": "Bearer", "expires_at": schemas.timestamp(row.expires_at),
                        "user": schemas.user(user)})
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.delete("/auth/token")
def revoke_token() -> tuple[str, int]:
    """Revoke the token this request was made with."""
    people.revoke_api_token(g.api_token)
    return "", 204


@bp.delete("/auth/tokens")
def revoke_all_tokens() -> tuple[str, int]:
    """Revoke every token of the signed-in user, this one included."""
    people.revoke_api_tokens(user=current_user())
    return "", 204


@bp.get("/me")
def me() -> Response:
    """The signed-in user, his roles and the scope of each permitted action."""
    return jsonify(schemas.me(current_user()))
