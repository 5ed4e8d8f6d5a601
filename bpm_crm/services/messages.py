"""Waking waiting processes with business events, correlated by the record they run for.

A process that waits in a message catch event (e.g. "order_placed" in a churn warning) is
subscribed by the message's name and its instance's business key (record type and id).
`correlate` delivers the message to exactly those instances, in the caller's transaction: the
business change that caused the event and the processes it wakes commit together.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bpm_crm.engine.runtime import ProcessRuntime
from bpm_crm.extensions import db
from bpm_crm.models import InstanceStatus, MessageSubscription, User
from bpm_crm.services import instances


def correlate(*, message_name: str, business_type: str, business_id: int, payload: dict[str, Any] | None = None,
              user: User | None = None) -> list[int]:
    """Deliver a message to every instance of this record waiting for it; joins the caller's transaction."""
    instance_ids = list(db.session.scalars(select(MessageSubscription.instance_id).where(
        MessageSubscription.message_name == message_name, MessageSubscription.business_type == business_type,
        MessageSubscription.business_id == business_id).order_by(MessageSubscription.instance_id)))
    woken = []
    for instance_id in dict.fromkeys(instance_ids):
        instance = instances.lock(instance_id)
        if instance is None or instance.status != InstanceStatus.RUNNING:
            continue
        delivered: list[bool] = []

        def deliver(runtime: ProcessRuntime, into: list[bool] = delivered) -> None:
            into.append(runtime.send_message(message_name, payload or {}))

        runtime = instances.run(instance, user, deliver)
        if not delivered[0]:
            continue
        instances.record(instance, "message", user=user, data={"message": message_name, **(payload or {})})
        instances.save(instance, runtime, user=user, completed_guid=None)
        woken.append(instance.id)
    return woken
