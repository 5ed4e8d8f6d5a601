"""Paging of list queries, shared by every list page and API endpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from bpm_crm.extensions import db

# A person pages through a list, a client through an export; neither needs a millionth page, and
# (MAX_PAGE - 1) × 100 per page stays far inside every database's integer OFFSET.
MAX_PAGE = 1_000_000
_MAX_PAGE_DIGITS = len(str(MAX_PAGE))


@dataclass(frozen=True)
class Page:
    """One page of a list, with what the pager needs."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_number(raw: str | None) -> int | None:
    """The page a query string asks for: 1 when absent, None unless ASCII digits from 1 to MAX_PAGE."""
    if raw is None or raw == "":
        return 1
    if len(raw) > _MAX_PAGE_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_PAGE else None


def paginate(query: Select, *, page: int, per_page: int) -> Page:
    """Run a select for one page and count the whole; a page past the end is empty."""
    page = max(1, page)
    per_page = max(1, per_page)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    offset = (page - 1) * per_page
    # Past the end nothing is fetched, so no OFFSET beyond the row count ever reaches the database.
    items = list(db.session.scalars(query.limit(per_page).offset(offset)).unique()) if offset < total else []
    return Page(items=items, total=total, page=page, per_page=per_page)
