"""Query-string values of the pages: the page number, record ids, search text; a bad value is a 422 naming it."""
from __future__ import annotations

from flask import request

from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.services.paging import MAX_PAGE, page_number


def page_arg() -> int:
    """The list page asked for (1 when absent)."""
    page = page_number(request.args.get("page"))
    if page is None:
        raise Invalid(str(_("查询参数有误")), {"page": [str(_("应在 %(bound)s 之间", bound=f"1–{MAX_PAGE}"))]})
    return page


def id_arg(name: str) -> int | None:
    """An optional record id (a filter, or the record a new one belongs to)."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    value = parse_id(raw)
    if value is None:
        raise Invalid(str(_("查询参数有误")), {name: [str(_("应为记录编号（整数）"))]})
    return value


def text_arg(name: str, limit: int = 100) -> str | None:
    """A free-text parameter, trimmed and cut to `limit`; empty is None."""
    return (request.args.get(name) or "").strip()[:limit] or None
