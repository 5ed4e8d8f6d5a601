"""The quote as a PDF (报价单): company header, customer, lines, totals in figures and in capitals, validity and
the approval trail, printed in Chinese fonts and attached to the quote after the approval commits.

The approval decides what the trail says: `request_pdf` takes it as plain entries (step, approver, decision,
at, comment) in the approving transaction, and the "quote.pdf" job prints and attaches the PDF once that
transaction has committed.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from flask import current_app
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Job, Quote, QuoteLine
from bpm_crm.services import attachments, jobs, money

log = logging.getLogger(__name__)

JOB_KIND = "quote.pdf"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates_print"
DECISIONS = {
    "approve": "同意", "reject": "拒绝", "return": "退回", "transfer": "转交", "add_signer": "加签",
    "auto_pass": "自动通过", "comment": "评论", "withdraw": "撤回", "submit": "提交",
}
TRAIL_KEYS = ("step", "approver", "decision", "at", "comment")


class TrailEntry(TypedDict, total=False):
    """One line of the approval trail as the PDF prints it."""

    step: str  # the approval step, "销售主管审批"
    approver: str  # who acted, by name
    decision: str  # "approve", "reject" … (see DECISIONS) or the words to print
    at: datetime | str | None  # when: aware, naive UTC or ISO 8601 text
    comment: str | None


def pdf_filename(quote: Quote) -> str:
    """"报价单-BJ000001.pdf": the attachment's name, by which a newer PDF replaces an older one."""
    return f"报价单-{quote.number or quote.id}.pdf"


def valid_until(quote: Quote) -> date:
    """The last day the quote holds: its date plus QUOTE_VALID_DAYS."""
    return quote.quote_date + timedelta(days=_valid_days())


def request_pdf(*, quote_id: int, trail: Sequence[Mapping[str, Any]], approver_id: int | None = None) -> Job:
    """Ask for the quote's PDF once the caller's transaction commits (in it; nothing if it rolls back)."""
    return jobs.enqueue(JOB_KIND, {"quote_id": quote_id, "trail": [_plain_entry(e) for e in trail],
                                   "approver_id": approver_id})


def run_pdf_job(payload: dict[str, Any]) -> None:
    """The "quote.pdf" job: {"quote_id", "trail" (optional), "approver_id" (optional)} → the quote's PDF attached."""
    attach_pdf(quote_id=int(payload["quote_id"]), trail=payload.get("trail") or [],
               uploaded_by_id=payload.get("approver_id"))


def attach_pdf(*, quote_id: int, trail: Sequence[Mapping[str, Any]],
               uploaded_by_id: int | None = None) -> Attachment | None:
    """Print the quote and attach the PDF in place of an earlier one; None when the quote is gone. Caller commits."""
    # The lock keeps two jobs for the same quote from each adding a PDF.
    quote = db.session.scalar(
        select(Quote).where(Quote.id == quote_id).with_for_update()
        .options(selectinload(Quote.lines).selectinload(QuoteLine.product), selectinload(Quote.customer),
                 selectinload(Quote.contact), selectinload(Quote.created_by))
        .execution_options(populate_existing=True))
    if quote is None:  # deleted since it was approved: nothing to print, and retrying will not change that
        log.warning("quote %s is gone; no PDF printed", quote_id)
        return None
    return attachments.store_generated(record_type="quote", record_id=quote.id, filename=pdf_filename(quote),
                                       data=render_quote_pdf(quote, trail=trail), uploaded_by_id=uploaded_by_id)


def render_quote_pdf(quote: Quote, *, trail: Sequence[Mapping[str, Any]]) -> bytes:
    """The quote as an A4 PDF with the given approval trail; needs an app context."""
    html = _print_environment(current_app.jinja_env).get_template("quote.html").render(_context(quote, trail))
    # Imported here: loading Pango through cffi takes about 0.7 s, which only a process that prints should pay,
    # and Pango loaded before Celery forks its workers is shared with them (a known cause of crashes).
    import weasyprint

    # The page needs nothing from outside; refusing every URL keeps record text from making it fetch any.
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    return bytes(weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf())


@functools.cache
def _print_environment(pages: Environment) -> Environment:
    """The app's Jinja environment (filters, autoescaping) reading the print templates instead of the pages."""
    return pages.overlay(loader=FileSystemLoader(TEMPLATES))


def _valid_days() -> int:
    return int(current_app.config.get("QUOTE_VALID_DAYS", 30))


def _context(quote: Quote, trail: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    config = current_app.config
    gross = sum((Decimal(line.quantity) * line.unit_price for line in quote.lines), Decimal(0))
    total = money.to_cents(quote.total)
    customer, contact = quote.customer, quote.contact
    zone = ZoneInfo(config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    return {
        "company": {"name": config.get("COMPANY_NAME") or "", "address": config.get("COMPANY_ADDRESS") or "",
                    "phone": config.get("COMPANY_PHONE") or ""},
        "number": quote.number or "",
        "name": quote.name,
        "status": quote.status,
        "quote_date": _day(quote.quote_date),
        "valid_until": _day(valid_until(quote)),
        "valid_days": _valid_days(),
        "author": quote.created_by.full_name if quote.created_by else None,
        "customer": {"name": customer.name, "number": customer.number, "address": customer.address,
                     "phone": customer.phone},
        "contact": {"name": contact.name if contact else None, "position": contact.position if contact else None,
                    "phone": (contact.office_phone or contact.mobile) if contact else None},
        "lines": [_line(index, line) for index, line in enumerate(quote.lines, start=1)],
        "gross": money.figures(gross),
        "discount": money.figures(gross - total) if money.to_cents(gross) > total else None,
        "total": money.figures(total),
        "total_capitals": money.capitals(total),
        "trail": [_printed_entry(entry, zone) for entry in trail],
        "remarks": quote.remarks,
    }


def _line(index: int, line: QuoteLine) -> dict[str, Any]:
    product = line.product
    discount = line.discount_pct or Decimal(0)
    return {
        "index": index,
        "product": line.product_name,
        "model": product.model if product else None,
        "unit": product.unit if product else None,
        "quantity": f"{line.quantity:,}",
        "unit_price": money.figures(line.unit_price),
        "discount": f"{discount.normalize():f}%" if discount else "—",
        "amount": money.figures(line.amount),
    }


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _when(value: Any, zone: ZoneInfo) -> str:
    """"2026-11-20 14:30" in the configured time zone; text that is no ISO 8601 moment as it is."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return ""
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)  # stored timestamps are naive UTC
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _printed_entry(entry: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    decision = str(entry.get("decision") or "")
    return {
        "step": str(entry.get("step") or ""),
        "approver": str(entry.get("approver") or ""),
        "decision": DECISIONS.get(decision, decision),
        "at": _when(entry.get("at"), zone),
        "comment": str(entry.get("comment") or ""),
    }


def _plain_entry(entry: Mapping[str, Any]) -> dict[str, str | None]:
    """A trail entry as JSON can keep it in the job's payload."""
    plain: dict[str, str | None] = {}
    for key in TRAIL_KEYS:
        value = entry.get(key)
        if isinstance(value, datetime):
            value = value.isoformat()
        plain[key] = None if value is None else str(value)
    return plain
