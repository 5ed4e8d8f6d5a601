"""Service-task handlers: the only code a BPMN service task may call, addressed by name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bpm_crm.models import ProcessInstance, User

Handler = Callable[..., Any]


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may know: the instance it runs for and the user whose action ran it.

    Handlers change records through the session of the caller and never commit: the
    changes commit together with the process state, or not at all.
    """

    instance: ProcessInstance
    user: User | None
    task_bpmn_id: str


HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register a function under the name diagrams use in serviceTaskOperator id."""

    def register(function: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError(f"handler {name!r} registered twice")
        HANDLERS[name] = function
        return function

    return register


def handler_names() -> set[str]:
    return set(HANDLERS)


def call_handler(name: str, context: HandlerContext, params: dict[str, Any]) -> Any:
    """Run a registered handler; an unknown name cannot reach here past deploy-time checks."""
    try:
        function = HANDLERS[name]
    except KeyError:
        raise LookupError(f"no handler named {name!r}") from None
    return function(context, **params)


from bpm_crm.handlers import opportunity  # noqa: E402,F401  (registers its handlers)
