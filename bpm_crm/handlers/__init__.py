"""Service-task handlers: the only code a BPMN service task may call, addressed by name.

Each handler module lists its handlers in a `HANDLERS` dict (name as diagrams write it in
serviceTaskOperator -> function); this package collects those modules here, explicitly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpm_crm.handlers import care, churn, opportunity, quote, service_request
from bpm_crm.handlers.context import HandlerContext

Handler = Callable[..., Any]

HANDLER_MODULES = (opportunity, quote, service_request, churn, care)


def _collect() -> dict[str, Handler]:
    collected: dict[str, Handler] = {}
    for module in HANDLER_MODULES:
        for name, function in module.HANDLERS.items():
            if name in collected:
                raise ValueError(f"handler {name!r} declared twice")
            collected[name] = function
    return collected


HANDLERS: dict[str, Handler] = _collect()


def register(name: str, function: Handler) -> None:
    """Add a handler the platform provides (e.g. approval.resolve); wired explicitly when the app is built."""
    existing = HANDLERS.get(name)
    if existing is not None and existing is not function:
        raise ValueError(f"handler {name!r} declared twice")
    HANDLERS[name] = function


def handler_names() -> set[str]:
    return set(HANDLERS)


def call_handler(name: str, context: HandlerContext, params: dict[str, Any]) -> Any:
    """Run a registered handler; an unknown name cannot reach here past deploy-time checks."""
    try:
        function = HANDLERS[name]
    except KeyError:
        raise LookupError(f"no handler named {name!r}") from None
    return function(context, **params)


__all__ = ["HANDLERS", "HandlerContext", "call_handler", "handler_names", "register"]
