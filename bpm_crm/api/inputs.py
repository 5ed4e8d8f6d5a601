"""Reading API input: JSON object bodies and validated query parameters."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id, storable
from bpm_crm.services.paging import MAX_PAGE, page_number

MAX_PER_PAGE = 100
MAX_JSON_BYTES = 1024 * 1024  # every JSON body of the API is a record or a task form; files come as multipart
MAX_JSON_DEPTH = 32


def limit_body_size() -> None:
    """Before every API request: a body that is not a multipart upload is refused (413) past MAX_JSON_BYTES."""
    if request.mimetype != "multipart/form-data":
        request.max_content_length = MAX_JSON_BYTES


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _check_values(payload: Any) -> None:
    """Depth at most MAX_JSON_DEPTH and only storable strings, walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(payload, 1, "")]
    while stack:
        node, depth, field = stack.pop()
        if isinstance(node, dict | list) and depth > MAX_JSON_DEPTH:
            raise BadRequest(str(_("JSON 嵌套超过 %(depth)s 层", depth=MAX_JSON_DEPTH)))
        if isinstance(node, dict):
            for key, value in node.items():
                name = field or key.encode("utf-8", "backslashreplace").decode("utf-8")
                if not storable(key):
                    _unstorable(name)
                stack.append((value, depth + 1, name))
        elif isinstance(node, list):
            stack.extend((value, depth + 1, field) for value in node)
        elif isinstance(node, str) and not storable(node):
            _unstorable(field)


def _unstorable(field: str) -> None:
    message = str(_("含有无效字符（孤立的 Unicode 代理项或 NUL）"))
    raise Invalid(str(_("请更正标出的字段")), {field or "body": [message]})


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 400 unless it is one, nested at most MAX_JSON_DEPTH; 422 for bad text."""
    if not request.is_json:
        raise BadRequest(str(_("请求体必须是 JSON 对象（Content-Type: application/json）")))
    try:
        payload = json.loads(request.get_data(cache=True), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # RecursionError: the parser's own nesting limit, long before MAX_JSON_DEPTH could be checked.
        raise BadRequest(str(_("请求体必须是 JSON 对象"))) from None
    if not isinstance(payload, dict):
        raise BadRequest(str(_("请求体必须是 JSON 对象")))
    _check_values(payload)
    return payload


def _int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if len(raw) > len(str(maximum)) or not raw.isascii() or not raw.isdigit():
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为整数"))]})
    value = int(raw)
    if not minimum <= value <= maximum:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应在 %(bound)s 之间", bound=f"{minimum}–{maximum}"))]})
    return value


def paging() -> tuple[int, int]:
    """`page` (1–MAX_PAGE) and `per_page` (1–100, default PAGE_SIZE) from the query string."""
    page = page_number(request.args.get("page"))
    if page is None:
        raise Invalid(str(_("查询参数有误")), {"page": [str(_("应在 %(bound)s 之间", bound=f"1–{MAX_PAGE}"))]})
    per_page = _int_arg("per_page", current_app.config["PAGE_SIZE"], 1, MAX_PER_PAGE)
    return page, per_page


def id_arg(name: str) -> int | None:
    """An optional record id in the query string; 422 naming the parameter when it is not one."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    value = parse_id(raw)
    if value is None:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为记录编号（整数）"))]})
    return value


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


def fields_of(payload: dict[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """The body's fields, refusing any the operation does not take (422 naming them)."""
    names = set(allowed)
    unknown = {name: [str(_("未知或只读字段"))] for name in payload if name not in names}
    if unknown:
        raise Invalid(str(_("请更正标出的字段")), unknown)
    return payload


def optional_object() -> dict[str, Any]:
    """The body as a JSON object when there is one; {} for an empty body (operations whose fields are optional)."""
    return json_object() if request.get_data(cache=True) else {}


def text_field(payload: dict[str, Any], name: str, limit: int) -> str | None:
    """An optional text field of at most `limit` characters, trimmed; empty is None."""
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise Invalid(str(_("请更正标出的字段")), {name: [str(_("应为不超过 %(limit)s 字的文本", limit=limit))]})
    return value.strip() or None


def id_field(payload: dict[str, Any], name: str) -> int:
    """A required record id in the body; 422 naming the field when it is missing or not one."""
    value = parse_id(payload.get(name))
    if value is None:
        raise Invalid(str(_("请更正标出的字段")), {name: [str(_("应为记录编号（整数）"))]})
    return value


def id_list(payload: dict[str, Any], name: str, limit: int) -> list[int]:
    """A required list of 1 to `limit` record ids in the body; 422 naming the field otherwise."""
    raw = payload.get(name)
    if not isinstance(raw, list) or not 1 <= len(raw) <= limit:
        raise Invalid(str(_("请更正标出的字段")),
                      {name: [str(_("应为 1 到 %(limit)s 个记录编号的列表", limit=limit))]})
    return [id_field({name: value}, name) for value in raw]
