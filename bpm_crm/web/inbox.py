"""The task inbox (home page): my tasks, tasks to claim, tasks done."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from bpm_crm.services import inbox
from bpm_crm.web.query_args import page_arg

bp = Blueprint("inbox", __name__)


@bp.get("/")
@login_required
def index():
    """One tab of the inbox with its counts, optionally only overdue tasks."""
    user = current_user._get_current_object()
    view = request.args.get("view", "mine")
    view = view if view in inbox.VIEWS else "mine"
    overdue = request.args.get("overdue") == "1" and view != "done"
    page = inbox.list_tasks(
        user=user,
        view=view,
        process_id=request.args.get("process") or None,
        overdue=overdue,
        page=page_arg(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template(
        "inbox/index.html",
        page=page,
        view=view,
        overdue=overdue,
        counts=inbox.counts(user=user),
        is_overdue=inbox.is_overdue,
    )
