"""Quotes (报价): list, create, read, edit the header and the lines of a draft, delete a draft, submit and withdraw."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import choice_arg, fields_of, id_arg, json_object, optional_object, paging, text_arg, text_field
from bpm_crm.api.openapi import INT, N_INT, N_STR, STR, TIME, nullable, obj, operation, path_id, query, ref, responses
from bpm_crm.errors import Invalid
from bpm_crm.forms.json_schema import json_schema
from bpm_crm.forms.quote import QUOTE as QUOTE_RULES
from bpm_crm.forms.quote import QUOTE_LINE
from bpm_crm.i18n import _
from bpm_crm.models import Quote, QuoteLine, QuoteStatus, TaskStatus
from bpm_crm.services import approvals, human_tasks, instances, quote_approval, quotes
from bpm_crm.services.quotes import HEADER_FIELDS, LINE_FIELDS


def _fields(payload: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Refuse unknown or read-only fields and non-scalar values; the service validates the rest."""
    errors = {name: [str(_("未知或只读字段"))] for name in payload if name not in allowed}
    errors.update({name: [str(_("应为文本或数字"))] for name, value in payload.items()
                   if name in allowed and isinstance(value, dict | list)})
    if errors:
        raise Invalid(str(_("请更正标出的字段")), errors)
    return payload


def quote_line(line: QuoteLine) -> dict[str, Any]:
    return {"id": line.id, "product_id": line.product_id, "product_name": line.product_name,
            "quantity": line.quantity, "unit_price": schemas.money(line.unit_price),
            "discount_pct": schemas.money(line.discount_pct), "amount": schemas.money(line.amount)}


def quote(record: Quote) -> dict[str, Any]:
    """A quote as listed: header, customer, total and status."""
    return {
        "id": record.id, "number": record.number, "name": record.name,
        "customer": {"id": record.customer.id, "number": record.customer.number, "name": record.customer.name},
        "contact": {"id": record.contact.id, "name": record.contact.name} if record.contact else None,
        "quote_date": record.quote_date.isoformat(), "remarks": record.remarks, "status": record.status,
        "total": schemas.money(record.total), "created_by": schemas.user_ref(record.created_by),
        "created_at": schemas.timestamp(record.created_at), "updated_at": schemas.timestamp(record.updated_at),
        "process_instance_id": record.process_instance_id,
    }


def approval_state(record: Quote) -> dict[str, Any] | None:
    """The quote's latest approval: who is asked now, every action taken, and how long each step took."""
    instance_id = record.process_instance_id
    if instance_id is None:
        return None
    running = quote_approval.pending_for(record) is not None
    waiting = [task for task in instances.instance_tasks(instance_id) if running and
               task.status == TaskStatus.OPEN and approvals.step_of(task) is not None]
    return {
        "process_instance_id": instance_id, "running": running,
        "waiting": [{"task_id": task.id, "step": task.name, "approver": schemas.user_ref(task.assignee),
                     "since": schemas.timestamp(task.created_at)} for task in waiting],
        "history": [schemas.approval_event(event) for event in approvals.approval_history(instance_id)],
        "step_times": [schemas.step_time(item) for item in quote_approval.step_times(instance_id)],
    }


def quote_detail(record: Quote) -> dict[str, Any]:
    """A quote with its lines and its approval."""
    return {**quote(record), "lines": [quote_line(line) for line in record.lines],
            "approval": approval_state(record)}


@bp.get("/quotes")
def list_quotes() -> Response:
    """Visible quotes, newest first, searched and filtered."""
    page, per_page = paging()
    result = quotes.list_quotes(
        user=current_user(), q=text_arg("q"), status=choice_arg("status", [s.value for s in QuoteStatus]),
        customer_id=id_arg("customer_id"), page=page, per_page=per_page)
    return jsonify(schemas.page(result, quote))


@bp.post("/quotes")
def create_quote() -> tuple[Response, int, dict[str, str]]:
    """Create a draft quote, optionally with its lines."""
    payload = json_object()
    lines = payload.pop("lines", None)
    if lines is not None and (not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines)):
        raise Invalid(str(_("请更正标出的字段")), {"lines": [str(_("应为明细对象的数组"))]})
    record = quotes.create_quote(user=current_user(), values=_fields(payload, HEADER_FIELDS),
                                 lines=[_fields(line, LINE_FIELDS) for line in lines or []])
    return jsonify(quote_detail(record)), 201, {"Location": url_for("api.get_quote", quote_id=record.id)}


@bp.get("/quotes/<id:quote_id>")
def get_quote(quote_id: int) -> Response:
    """One quote with its lines."""
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=current_user())))


@bp.patch("/quotes/<id:quote_id>")
def update_quote(quote_id: int) -> Response:
    """Change header fields of a draft."""
    record = quotes.update_quote(quote_id=quote_id, user=current_user(),
                                 values=_fields(json_object(), HEADER_FIELDS))
    return jsonify(quote_detail(record))


@bp.delete("/quotes/<id:quote_id>")
def delete_quote(quote_id: int) -> tuple[str, int]:
    """Move a draft with its lines and attachments to the recycle bin."""
    quotes.delete_quote(quote_id=quote_id, user=current_user())
    return "", 204


@bp.post("/quotes/<id:quote_id>/submit")
def submit_quote(quote_id: int) -> Response:
    """提交审批: a draft starts its approval; a rejected quote, revised, goes round again."""
    user = current_user()
    fields_of(optional_object(), ())
    quote_approval.submit(quote_id=quote_id, user=user)
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=user)))


@bp.post("/quotes/<id:quote_id>/withdraw")
def withdraw_quote(quote_id: int) -> Response:
    """撤回 to a draft: while no approver has acted, or after a rejection instead of revising."""
    user = current_user()
    reason = text_field(fields_of(optional_object(), ("reason",)), "reason", human_tasks.MAX_COMMENT)
    quote_approval.withdraw(quote_id=quote_id, user=user, reason=reason)
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=user)))


@bp.post("/quotes/<id:quote_id>/lines")
def add_quote_line(quote_id: int) -> tuple[Response, int]:
    """Add a line to a draft; the quote comes back with its new total."""
    user = current_user()
    quotes.add_line(quote_id=quote_id, user=user, values=_fields(json_object(), LINE_FIELDS))
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=user))), 201


@bp.patch("/quotes/<id:quote_id>/lines/<id:line_id>")
def update_quote_line(quote_id: int, line_id: int) -> Response:
    """Change a line of a draft."""
    user = current_user()
    quotes.update_line(quote_id=quote_id, line_id=line_id, user=user, values=_fields(json_object(), LINE_FIELDS))
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=user)))


@bp.delete("/quotes/<id:quote_id>/lines/<id:line_id>")
def delete_quote_line(quote_id: int, line_id: int) -> Response:
    """Remove a line from a draft."""
    user = current_user()
    quotes.delete_line(quote_id=quote_id, line_id=line_id, user=user)
    return jsonify(quote_detail(quotes.get_quote(quote_id=quote_id, user=user)))


MONEY = {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "examples": ["1280.00"]}
LINES = {"lines": {"type": "array", "items": ref("QuoteLineInput")}}
openapi.SCHEMAS.update({
    "QuoteLineInput": json_schema(QUOTE_LINE, description="product_id or product_name is required"),
    "QuoteLinePatch": json_schema(QUOTE_LINE, partial=True),
    "QuoteInput": json_schema(QUOTE_RULES, extra=LINES),
    "QuotePatch": json_schema(QUOTE_RULES, partial=True),
    "QuoteLine": obj({"id": INT, "product_id": N_INT, "product_name": STR, "quantity": INT, "unit_price": MONEY,
                      "discount_pct": MONEY, "amount": {**MONEY, "description": "qty × price × (1 − pct/100)"}}),
    "Quote": obj({
        "id": INT, "number": STR, "name": STR,
        "customer": obj({"id": INT, "number": N_STR, "name": STR}),
        "contact": nullable(obj({"id": INT, "name": STR})),
        "quote_date": {"type": "string", "format": "date"}, "remarks": N_STR,
        "status": {"enum": [s.value for s in QuoteStatus]}, "total": MONEY,
        "created_by": nullable(ref("UserRef")), "created_at": TIME, "updated_at": TIME,
        "process_instance_id": N_INT,
    }),
    "QuoteApproval": obj({
        "process_instance_id": INT, "running": openapi.BOOL,
        "waiting": {"type": "array", "description": "The approvers asked now", "items": obj({
            "task_id": INT, "step": STR, "approver": nullable(ref("UserRef")), "since": TIME})},
        "history": {"type": "array", "items": ref("ApprovalEvent")},
        "step_times": {"type": "array", "items": ref("StepTime")},
    }),
    "QuoteDetail": {"allOf": [ref("Quote"), obj({
        "lines": {"type": "array", "items": ref("QuoteLine")},
        "approval": nullable({**ref("QuoteApproval"), "description": "The latest approval; null before the first "
                              "submission"})})]},
    "QuoteWithdrawal": obj({"reason": nullable({"type": "string", "maxLength": human_tasks.MAX_COMMENT})}, [],
                           additionalProperties=False),
    "QuotePage": openapi.page_of("Quote"),
})
QUOTE = [path_id("quote_id")]
LINE = [path_id("quote_id"), path_id("line_id")]
openapi.PATHS.update({
    "/quotes": {
        "get": operation("listQuotes", "Visible quotes, newest first", "quotes",
                         responses("200", "QuotePage", "401", "422"), params=[
                             openapi.SEARCH, query("status", {"enum": [s.value for s in QuoteStatus]}),
                             query("customer_id", INT, "Only this customer's quotes"), *openapi.PAGING]),
        "post": operation("createQuote", "Create a draft quote (with lines)", "quotes",
                          responses("201", "QuoteDetail", "400", "401", "403", "422",
                                    headers={"Location": {"schema": STR, "description": "URL of the new quote"}}),
                          body="QuoteInput"),
    },
    "/quotes/{quote_id}": {
        "get": operation("getQuote", "One quote with its lines", "quotes",
                         responses("200", "QuoteDetail", "401", "404"), params=QUOTE),
        "patch": operation("updateQuote", "Change the header of a draft", "quotes",
                           responses("200", "QuoteDetail", "400", "401", "403", "404", "409", "422"),
                           body="QuotePatch", params=QUOTE),
        "delete": operation("deleteQuote", "Move a draft to the recycle bin", "quotes",
                            responses("204", None, "401", "403", "404", "409"), params=QUOTE),
    },
    "/quotes/{quote_id}/submit": {"post": {**operation(
        "submitQuote", "提交审批: starts the approval of a draft, or resubmits a revised rejected quote", "quotes",
        responses("200", "QuoteDetail", "400", "401", "404", "409", "422", "500"), params=QUOTE),
        "requestBody": {"required": False, "content": {openapi.JSON: {"schema": obj(
            {}, [], additionalProperties=False)}}}}},
    "/quotes/{quote_id}/withdraw": {"post": operation(
        "withdrawQuote", "撤回 to a draft while no approver has acted, or after a rejection", "quotes",
        responses("200", "QuoteDetail", "400", "401", "404", "409", "422", "500"), body="QuoteWithdrawal",
        params=QUOTE)},
    "/quotes/{quote_id}/lines": {
        "post": operation("addQuoteLine", "Add a line to a draft; returns the quote", "quotes",
                          responses("201", "QuoteDetail", "400", "401", "403", "404", "409", "422"),
                          body="QuoteLineInput", params=QUOTE),
    },
    "/quotes/{quote_id}/lines/{line_id}": {
        "patch": operation("updateQuoteLine", "Change a line of a draft; returns the quote", "quotes",
                           responses("200", "QuoteDetail", "400", "401", "403", "404", "409", "422"),
                           body="QuoteLinePatch", params=LINE),
        "delete": operation("deleteQuoteLine", "Remove a line of a draft; returns the quote", "quotes",
                            responses("200", "QuoteDetail", "401", "403", "404", "409"), params=LINE),
    },
})
openapi.PATHS["/quotes/{quote_id}/withdraw"]["post"]["requestBody"]["required"] = False  # the reason is optional
