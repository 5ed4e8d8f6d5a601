"""Errors of running processes, shared by the instance, task and timer services."""
from __future__ import annotations

from bpm_crm.errors import DomainError


class ProcessFailed(DomainError):
    """A step of the process failed (a handler, a diagram expression, an engine limit); nothing was saved.

    The diagram, not the request, is at fault: the answer is a server error naming the element.
    """

    status = 500
    code = "process_failed"


class InstanceIncident(DomainError):
    """The instance cannot go on until someone repairs it; the incident is recorded on it."""

    status = 409
    code = "instance_incident"
