"""The notification centre: the bell in the navigation bar, the list, mark as read, and open what it is about."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from bpm_crm.services import notifications
from bpm_crm.web.pages import signed_in
from bpm_crm.web.query_args import page_arg
from bpm_crm.web.redirects import safe_next

bp = Blueprint("notifications", __name__, url_prefix="/notifications")



@bp.app_template_global()
def notification_bell() -> dict[str, Any] | None:
    """What the bell shows: the unread count and the newest unread notifications (two indexed queries)."""
    if not current_user.is_authenticated:
        return None
    user = signed_in()
    return {"count": notifications.unread_count(user=user), "latest": notifications.latest(user=user)}


@bp.app_template_global()
def notification_kind(kind: str) -> dict[str, str]:
    return {"label": notifications.kind_label(kind), "icon": notifications.KIND_ICONS.get(kind, "bell")}


@bp.get("/")
@login_required
def index():
    """The user's notifications, newest first, all or only the unread ones."""
    unread = request.args.get("unread") == "1"
    page = notifications.list_notifications(user=signed_in(), unread=unread, page=page_arg(),
                                            per_page=current_app.config["PAGE_SIZE"])
    return render_template("notifications/index.html", page=page, unread=unread,
                           targets={row.id: notifications.target(row) for row in page.items})


@bp.post("/<id:notification_id>")
@login_required
def open_notification(notification_id: int):
    """Open a notification (a button posts here): mark it read, then go to its task or record."""
    row = notifications.mark_read(notification_id=notification_id, user=signed_in())
    return redirect(notifications.target(row) or url_for("notifications.index"))


@bp.get("/<id:notification_id>")
@login_required
def show_notification(notification_id: int):
    """Where a notification leads, changing nothing: it stays unread (a link someone kept, a prefetch)."""
    row = notifications.get_notification(notification_id=notification_id, user=signed_in())
    return redirect(notifications.target(row) or url_for("notifications.index", unread="1"))


@bp.post("/<id:notification_id>/read")
@login_required
def read(notification_id: int):
    """Mark one notification read and stay on the page."""
    notifications.mark_read(notification_id=notification_id, user=signed_in())
    return redirect(safe_next(request.form.get("next")) or url_for("notifications.index"))


@bp.post("/read-all")
@login_required
def read_all():
    """Mark every notification read."""
    count = notifications.mark_all_read(user=signed_in())
    flash(gettext("已将 %(count)s 条通知标为已读", count=count), "success")
    return redirect(safe_next(request.form.get("next")) or url_for("notifications.index"))
