"""The task inbox (home page): what waits for me (my tasks and those I may take), approvals waiting for me,
requests I started, copies, tasks done — filtered by process, record and overdue."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_login import login_required

from bpm_crm.models import ProcessInstance
from bpm_crm.services import inbox
from bpm_crm.services.records import RECORDS
from bpm_crm.web.pages import signed_in
from bpm_crm.web.query_args import page_arg, text_arg

bp = Blueprint("inbox", __name__)

# The tabs: the task views, and the requests the user started.
TABS = (*inbox.VIEWS, "started")


def _record_url(instance: ProcessInstance) -> str:
    """The page of the record a request is about, else the request's own page."""
    record_type = RECORDS.find(instance.business_type)
    if record_type is not None and record_type.endpoint and instance.business_id is not None:
        return url_for(record_type.endpoint, **{record_type.id_arg: instance.business_id})
    return url_for("instances.show", instance_id=instance.id)


@bp.app_template_global()
def task_overdue(task: Any) -> bool:
    """Whether an open task is past its due time, for every page that lists tasks (_task_due.html)."""
    return inbox.is_overdue(task)


@bp.get("/")
@login_required
def index():
    """One tab of the inbox with its counts and filters; it opens on everything to do."""
    user = signed_in()
    view = request.args.get("view", "todo")
    view = view if view in TABS else "todo"
    choices = inbox.process_choices()
    process_id = request.args.get("process") or None
    process_id = process_id if process_id in {choice[0] for choice in choices} else None
    filters: dict[str, Any] = {
        "process_id": process_id,
        "q": text_arg("q"),
        "overdue": request.args.get("overdue") == "1" and view != "done",
    }
    listing = inbox.list_started if view == "started" else inbox.list_tasks
    extra = {} if view == "started" else {"view": view}
    page = listing(user=user, **extra, **filters, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    instances = page.items if view == "started" else []
    return render_template(
        "inbox/index.html",
        page=page,
        view=view,
        **filters,
        process_choices=choices,
        counts=inbox.counts(user=user),
        tab_counts=inbox.tab_counts(user=user),
        is_overdue=inbox.is_overdue,
        waiting=inbox.waiting_tasks([instance.id for instance in instances]),
        statuses=inbox.record_statuses(instances),
        record_url=_record_url,
    )
