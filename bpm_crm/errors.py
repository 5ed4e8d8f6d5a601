"""Domain errors raised by services; web/ and api/ translate them, once each, at the edge.

An error carries a machine `code`, a message template (a catalog msgid, Chinese) and the
parameters it interpolates: `Conflict("此任务已由%(name)s完成", code="task_done", name="王主管")`.
`message` is the template filled in (for logs and for readers without a catalog); the edge
translates the template and the parameters into the reader's language.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a user can be shown."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, /, *, code: str | None = None, **params: Any) -> None:
        self.template = str(message)
        self.params = params
        if code is not None:
            self.code = code
        self.message = _fill(self.template, params)
        super().__init__(self.message)


def _fill(template: str, params: dict[str, Any]) -> str:
    if not params:
        return template
    try:
        return template % params
    except (KeyError, ValueError, TypeError):
        return template


class NotFound(DomainError):
    """The record does not exist, or the user may not know that it does."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The user may see the record but not do this to it."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The record changed under the user (task already completed, status moved on)."""

    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Input failed validation; field_errors maps a field name to its messages."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None, /, *,
                 code: str | None = None, **params: Any) -> None:
        super().__init__(message, code=code, **params)
        self.field_errors = field_errors or {}

