"""The notification centre: what people should know (reminders, escalations, 催办, 抄送, @mentions, decisions,
转办), read in the product and sent by e-mail and to a webhook (企业微信 / 钉钉 robot, SMS gateway).

Whoever writes a `Notification` row writes it in his own transaction. When that row is flushed, one
delivery job per configured channel is added to the same transaction (`install` wires this once): if the
business change rolls back, nothing is sent; if it commits, each channel sends after the commit, is retried
on failure with a growing delay, and a channel that succeeded is never sent again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context, url_for
from flask_babel import force_locale, gettext, lazy_gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from bpm_crm import clock
from bpm_crm.errors import NotFound
from bpm_crm.extensions import db, listen
from bpm_crm.models import Job, Notification, ProcessInstance, User
from bpm_crm.services import channels, jobs
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.records import RECORDS
from bpm_crm.services.transaction import unit_of_work

log = logging.getLogger(__name__)

EMAIL_JOB = "notification.email"
WEBHOOK_JOB = "notification.webhook"
BELL_SIZE = 6

KIND_LABELS = {
    "reminder": lazy_gettext("到期提醒"), "escalation": lazy_gettext("超时升级"), "nudge": lazy_gettext("催办"),
    "cc": lazy_gettext("抄送"), "mention": lazy_gettext("有人提到了您"), "task_assigned": lazy_gettext("新的待办"),
    "transfer": lazy_gettext("转办"), "approved": lazy_gettext("已通过"), "rejected": lazy_gettext("未通过"),
    "closed": lazy_gettext("已办结"), "reopened": lazy_gettext("退回重办"),
}
KIND_ICONS = {
    "reminder": "alarm", "escalation": "arrow-up-circle", "nudge": "megaphone", "cc": "eye", "mention": "at",
    "task_assigned": "inbox", "transfer": "arrow-left-right", "approved": "check-circle", "rejected": "x-circle",
    "closed": "flag", "reopened": "arrow-counterclockwise",
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


# Reading ------------------------------------------------------------------------------------------

def unread_count(*, user: User) -> int:
    """How many notifications the user has not read (the bell's badge)."""
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def latest(*, user: User, limit: int = BELL_SIZE) -> list[Notification]:
    """The newest unread notifications, for the bell's menu."""
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))
        .order_by(Notification.id.desc()).limit(limit)))


def list_notifications(*, user: User, unread: bool = False, page: int = 1, per_page: int = 20) -> Page:
    """The user's notifications, newest first; only the unread ones when asked."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return paginate(query.order_by(Notification.id.desc()), page=page, per_page=per_page)


def _own(notification_id: int, user: User) -> Notification:
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound("通知不存在或您无权查看")
    return row


def get_notification(*, notification_id: int, user: User) -> Notification:
    """One of the user's notifications, read-only; NotFound for anyone else's."""
    return _own(notification_id, user)


@unit_of_work
def mark_read(*, notification_id: int, user: User) -> Notification:
    """Mark one of the user's notifications read (again is fine); commits."""
    row = _own(notification_id, user)
    if row.read_at is None:
        row.read_at = clock.utcnow_naive()
    return row


@unit_of_work
def mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the user read; commits. How many were unread."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=clock.utcnow_naive()))
    return int(getattr(result, "rowcount", 0) or 0)


def target(row: Notification) -> str | None:
    """Where a notification leads: its task, else the record its process is about, else the process."""
    try:
        if row.task_id is not None:
            return url_for("tasks.show", task_id=row.task_id)
        instance = db.session.get(ProcessInstance, row.instance_id) if row.instance_id else None
        if instance is None:
            return None
        record_type = RECORDS.find(instance.business_type)
        if record_type is not None and record_type.endpoint and instance.business_id is not None:
            arguments: dict[str, Any] = {record_type.id_arg: instance.business_id}
            return url_for(record_type.endpoint, **arguments)
        return url_for("instances.show", instance_id=instance.id)
    except BuildError:
        return None


# Delivering -----------------------------------------------------------------------------------------

def _webhook_kinds() -> set[str]:
    return {kind.strip() for kind in current_app.config["WEBHOOK_KINDS"].split(",") if kind.strip()}


def delivery_jobs(row: Notification) -> list[Job]:
    """One delivery job per channel configured for this notification."""
    config = current_app.config
    found = []
    if config.get("SMTP_HOST"):
        found.append(Job(kind=EMAIL_JOB, payload={"notification_id": row.id}, run_after=clock.utcnow_naive()))
    kinds = _webhook_kinds()
    if config.get("WEBHOOK_URL") and (not kinds or row.kind in kinds):
        found.append(Job(kind=WEBHOOK_JOB, payload={"notification_id": row.id}, run_after=clock.utcnow_naive()))
    return found


def _note_new(session: Session, _context: Any) -> None:
    new = [row for row in session.new if isinstance(row, Notification)]
    if new:
        session.info.setdefault("new_notifications", []).extend(new)


def _add_deliveries(session: Session, _context: Any) -> None:
    rows = session.info.pop("new_notifications", None)
    if not rows or not has_app_context():
        return
    for row in rows:
        for job in delivery_jobs(row):
            session.add(job)  # flushed by the commit's next round, in the same transaction
            jobs.dispatch_after_commit(session, job)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop("new_notifications", None)


def install(app: Flask) -> None:
    """Deliver every notification written from now on through the configured channels (wired by create_app)."""
    jobs.register(EMAIL_JOB, deliver_email)
    jobs.register(WEBHOOK_JOB, deliver_webhook)
    for name, listener in (("after_flush", _note_new), ("after_flush_postexec", _add_deliveries),
                           ("after_rollback", _forget)):
        listen(Session, name, listener)


@dataclass(frozen=True)
class Message:
    """A notification as a channel sends it, in its reader's language."""

    kind: str
    subject: str
    title: str
    body: str
    link: str
    user: User


def _message(notification_id: int) -> Message | None:
    row = db.session.get(Notification, notification_id)
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base), force_locale(
            user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        path = target(row)
        label = kind_label(row.kind)
        subject = gettext("[bpm-crm] %(kind)s：%(title)s", kind=label, title=row.title)
    return Message(kind=row.kind, subject=subject, title=f"{label}：{row.title}", body=row.body or "",
                   link=f"{base}{path}" if path else base, user=user)


def deliver_email(payload: dict[str, Any]) -> None:
    """Job: send one notification by e-mail to its recipient (nothing when he has no address)."""
    message = _message(int(payload["notification_id"]))
    if message is None or not message.user.email:
        return
    text = "\n\n".join(part for part in (message.title, message.body, message.link) if part)
    channels.send_email(current_app.config, to=message.user.email, subject=message.subject, text=text)


def deliver_webhook(payload: dict[str, Any]) -> None:
    """Job: post one notification to the webhook (group robot or SMS gateway) with the configured template."""
    message = _message(int(payload["notification_id"]))
    if message is None:
        return
    user = message.user
    channels.post_webhook(current_app.config, {
        "title": message.title, "body": message.body, "link": message.link, "kind": message.kind,
        "user": user.full_name, "username": user.username, "mobile": user.mobile or "", "email": user.email or "",
    })


def created_since(*, user: User, moment: datetime) -> list[Notification]:
    """The user's notifications written after `moment`, oldest first."""
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.created_at >= moment).order_by(Notification.id)))
