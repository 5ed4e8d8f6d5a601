"""What a handler may know when a service task calls it."""
from __future__ import annotations

from dataclasses import dataclass

from bpm_crm.models import ProcessInstance, User


@dataclass(frozen=True)
class HandlerContext:
    """The instance a handler runs for and the user whose action ran it.

    Handlers change records through the session of the caller and never commit: the
    changes commit together with the process state, or not at all.
    """

    instance: ProcessInstance
    user: User | None
    task_bpmn_id: str
