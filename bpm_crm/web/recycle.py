"""The recycle bin page: deleted records the user may see, restored with one confirmed click."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.services import recycle
from bpm_crm.web.pages import act, signed_in
from bpm_crm.web.query_args import page_arg

bp = Blueprint("recycle", __name__, url_prefix="/recycle-bin")


@bp.app_template_global("bin_rows")
def bin_rows(node: dict) -> int:
    """How many rows a bin entry holds (the record and its dependants)."""
    return 1 + sum(bin_rows(child) for child in node.get("children", []))


@bp.get("/")
@login_required
def index():
    """Deleted records the user deleted or may restore, newest first."""
    user = signed_in()
    record_type = request.args.get("record_type") or None
    page = recycle.list_entries(
        user=user, record_type=record_type if record_type in recycle.record_types() else None,
        page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    restorable = {entry.id for entry in page.items if recycle.may_restore(user, entry)}
    return render_template("recycle/index.html", page=page, restorable=restorable,
                           record_types=recycle.record_types(), record_type=record_type)


@bp.post("/<id:entry_id>/restore")
@login_required
def restore(entry_id: int):
    """Put a deleted record and everything deleted with it back."""
    act(lambda: recycle.restore(entry_id=entry_id, user=signed_in()),
        success=lambda entry: gettext("已恢复：%(label)s", label=entry.label))
    return redirect(url_for("recycle.index"))
