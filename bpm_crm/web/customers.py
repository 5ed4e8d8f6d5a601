"""Customer pages: list with search and paging, detail."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from bpm_crm.services import customers

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.get("/")
@login_required
def index():
    """The visible customers, searched and paged."""
    page = customers.list_customers(
        user=current_user._get_current_object(),
        q=(request.args.get("q") or "").strip()[:100] or None,
        page=request.args.get("page", 1, type=int),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template("customers/index.html", page=page)


@bp.get("/<int:customer_id>")
@login_required
def show(customer_id: int):
    """One customer with the opportunity it came from."""
    customer = customers.get_customer(customer_id=customer_id, user=current_user._get_current_object())
    return render_template("customers/show.html", customer=customer)
