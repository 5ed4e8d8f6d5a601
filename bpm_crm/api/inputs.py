"""Reading API input: JSON object bodies and validated query parameters."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _

MAX_PER_PAGE = 100


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is absent, not JSON or not an object."""
    if not request.is_json:
        raise BadRequest(str(_("请求体必须是 JSON 对象（Content-Type: application/json）")))
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest(str(_("请求体必须是 JSON 对象")))
    return payload


def _int_arg(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为整数"))]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}–{maximum}" if maximum is not None else f"≥ {minimum}"
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应在 %(bound)s 之间", bound=bound))]})
    return value


def paging() -> tuple[int, int]:
    """`page` (≥ 1) and `per_page` (1–100, default PAGE_SIZE) from the query string."""
    page = _int_arg("page", 1, 1)
    per_page = _int_arg("per_page", current_app.config["PAGE_SIZE"], 1, MAX_PER_PAGE)
    return page, per_page


def choice_arg(name: str, choices: Iterable[str], default: str | None = None) -> str | None:
    """A query parameter that must be one of `choices` when given."""
    value = request.args.get(name) or default
    allowed = list(choices)
    if value is not None and value not in allowed:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为以下之一：%(values)s", values="、".join(allowed)))]})
    return value


def bool_arg(name: str) -> bool:
    """A true/false query parameter (true, 1, yes / false, 0, no); absent is false."""
    raw = (request.args.get(name) or "").lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise Invalid(str(_("查询参数有误")), {name: [str(_("应为 true 或 false"))]})


def text_arg(name: str, limit: int = 100) -> str | None:
    """A free-text query parameter, trimmed; empty is None."""
    value = (request.args.get(name) or "").strip()
    return value[:limit] or None
