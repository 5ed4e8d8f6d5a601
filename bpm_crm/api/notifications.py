"""The notification centre over the API: list (all or unread), mark one or all read."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from bpm_crm.api import bp, openapi, schemas
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import bool_arg, paging
from bpm_crm.api.openapi import BOOL, INT, N_INT, N_STR, N_TIME, STR, TIME, obj, operation, path_id, query, responses
from bpm_crm.models import Notification
from bpm_crm.services import notifications


def notification(row: Notification) -> dict[str, Any]:
    """One notification with where it leads."""
    return {"id": row.id, "kind": row.kind, "kind_label": notifications.kind_label(row.kind), "title": row.title,
            "body": row.body, "task_id": row.task_id, "process_instance_id": row.instance_id,
            "link": notifications.target(row), "created_at": schemas.timestamp(row.created_at),
            "read_at": schemas.timestamp(row.read_at)}


@bp.get("/notifications")
def list_notifications() -> Response:
    """The user's notifications, newest first (only the unread with unread=true), and how many are unread."""
    page, per_page = paging()
    user = current_user()
    result = notifications.list_notifications(user=user, unread=bool_arg("unread"), page=page, per_page=per_page)
    return jsonify({**schemas.page(result, notification), "unread": notifications.unread_count(user=user)})


@bp.post("/notifications/<id:notification_id>/read")
def read_notification(notification_id: int) -> Response:
    """Mark one notification read."""
    return jsonify(notification(notifications.mark_read(notification_id=notification_id, user=current_user())))


@bp.post("/notifications/read-all")
def read_all_notifications() -> Response:
    """Mark every notification read; how many were unread."""
    return jsonify({"marked": notifications.mark_all_read(user=current_user())})


openapi.SCHEMAS.update({
    "Notification": obj({"id": INT, "kind": STR, "kind_label": STR, "title": STR, "body": N_STR, "task_id": N_INT,
                         "process_instance_id": N_INT, "link": N_STR, "created_at": TIME, "read_at": N_TIME}),
    "NotificationPage": {"allOf": [openapi.page_of("Notification"), obj({"unread": INT})]},
    "NotificationsMarked": obj({"marked": INT}),
})
openapi.PATHS.update({
    "/notifications": {
        "get": operation("listNotifications", "My notifications, newest first", "notifications",
                         responses("200", "NotificationPage", "401", "422"),
                         params=[query("unread", BOOL, "Only unread ones"), *openapi.PAGING]),
    },
    "/notifications/{notification_id}/read": {
        "post": operation("readNotification", "Mark one notification read", "notifications",
                          responses("200", "Notification", "401", "404"), params=[path_id("notification_id")]),
    },
    "/notifications/read-all": {
        "post": operation("readAllNotifications", "Mark every notification read", "notifications",
                          responses("200", "NotificationsMarked", "401")),
    },
})
