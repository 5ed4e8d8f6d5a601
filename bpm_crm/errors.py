"""Domain errors raised by services; web/ and api/ turn them into pages and JSON."""
from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a user can be shown."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The record does not exist, or the user may not know that it does."""

    status = 404


class Forbidden(DomainError):
    """The user may see the record but not do this to it."""

    status = 403


class Conflict(DomainError):
    """The record changed under the user (task already completed, status moved on)."""

    status = 409


class Invalid(DomainError):
    """Input failed validation; field_errors maps a field name to its messages."""

    status = 422

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.field_errors = field_errors or {}
