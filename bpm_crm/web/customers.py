"""Customer pages: list with the public pool, Excel export, create/edit, the 360 page, claim, transfer, share."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from werkzeug.routing import BuildError

from bpm_crm.error_messages import translate
from bpm_crm.errors import DomainError, Invalid
from bpm_crm.forms.customer import CustomerForm, ShareForm, TransferForm
from bpm_crm.i18n import _
from bpm_crm.models import ORDER_STATUS_LABELS, Customer, User
from bpm_crm.services import customers, dictionary, handover, permissions
from bpm_crm.web import exports
from bpm_crm.web.display import labelled_choices, status_label
from bpm_crm.web.pages import act, form_view, redirect_after, refusal_text, signed_in
from bpm_crm.web.query_args import id_arg, page_arg
from bpm_crm.web.redirects import safe_next

bp = Blueprint("customers", __name__, url_prefix="/customers")

SORT_LABELS = {"name": _("客户名称"), "number": _("编号"), "level": _("等级"), "created_at": _("创建时间"),
               "updated_at": _("更新时间")}
TRANSFER_KINDS = {"claim": _("从公海领取"), "transfer": _("转移客户"), "release": _("放入公海")}
EXPORT_HEADERS = (_("编号"), _("客户名称"), _("简称"), _("等级"), _("状态"), _("地区"), _("行业"), _("客户来源"),
                  _("主要联系人"), _("电话"), _("地址"), _("满意度"), _("信用度"), _("客户经理"), _("创建时间"))


@bp.context_processor
def _links() -> dict[str, Any]:
    def record_url(endpoint: str, **values: Any) -> str | None:
        """A URL for another module's page if it exists and takes these values, else None."""
        if endpoint not in current_app.view_functions:
            return None
        try:
            return url_for(endpoint, **values)
        except BuildError:
            return None

    return {"record_url": record_url}



def _label(user: User) -> str:
    return f"{user.full_name}（{user.department.name}）" if user.department else user.full_name


def _filters() -> dict[str, Any]:
    """The list's search, tab, filters and sort from the query string; unknown values are dropped."""
    args = request.args
    view = args.get("view") if args.get("view") in customers.VIEWS else "mine"
    if view == "pool" and not permissions.can(signed_in(), "customer.claim"):
        view = "mine"
    owner = id_arg("owner_id")
    return {
        "q": (args.get("q") or "").strip()[:100] or None,
        "view": view,
        "region": (args.get("region") or "").strip()[:60] or None,
        "level": (args.get("level") or "").strip()[:20] or None,
        "status": args.get("status") if args.get("status") in customers.STATUSES else None,
        "owner_id": owner if owner and view == "mine" else None,
        "sort": args.get("sort") if args.get("sort") in customers.SORTS else None,
    }


def _sort_links(current: str) -> dict[str, tuple[str, str | None]]:
    """For each sortable column: the URL that sorts by it (toggling the direction) and its current direction."""
    links = {}
    for key in SORT_LABELS:
        state = "asc" if current == key else "desc" if current == f"-{key}" else None
        following = f"-{key}" if state == "asc" or (state is None and key.endswith("_at")) else key
        args = {**request.args.to_dict(), "sort": following}
        args.pop("page", None)
        links[key] = (url_for("customers.index", **args), state)
    return links


@bp.get("/")
@login_required
def index():
    """我的客户 / 公海: searched, filtered, sorted and paged, with batch transfer."""
    user = signed_in()
    filters = _filters()
    page = customers.list_customers(user=user, **filters, page=page_arg(),
                                    per_page=current_app.config["PAGE_SIZE"])
    return render_template(
        "customers/index.html", page=page, filters=filters,
        sort_links=_sort_links(filters["sort"] or customers.DEFAULT_SORT),
        regions=dictionary.region_paths(), levels=dictionary.choices(dictionary.LEVEL),
        statuses=customers.STATUSES, owners=[(u.id, _label(u)) for u in customers.owner_filter_choices(user)],
        shared=customers.shared_ids(user=user, customer_ids=[c.id for c in page.items]),
        transfer_to=[(u.id, _label(u)) for u in customers.assignable_owners(user)],
        handover_rules=handover.rules(),
        filtered=any(filters[k] for k in ("q", "region", "level", "status", "owner_id")),
    )


@bp.get("/export.xlsx")
@login_required
def export():
    """The filtered list as an Excel file: every row of the same scoped query, unpaged."""
    rows = customers.export_customers(user=signed_in(), limit=exports.MAX_EXPORT_ROWS, **_filters())

    def cells(c: Customer) -> list[Any]:
        return [c.number, c.name, c.short_name, status_label(c.level), status_label(c.status), c.region, c.industry,
                c.source, c.contact_name, c.phone, c.address, c.satisfaction, c.credit,
                c.owner.full_name if c.owner else gettext("公海"), c.created_at]

    return exports.xlsx_response(name=gettext("客户"), headers=[str(h) for h in EXPORT_HEADERS],
                                 rows=(cells(c) for c in rows))


def _form(customer: Customer | None = None) -> tuple[CustomerForm, bool]:
    """The record form with its dictionary choices; whether the owner may be chosen (new customers only)."""
    user = signed_in()
    form = CustomerForm(obj=customer)
    owners = customers.assignable_owners(user) if customer is None else []
    choices = [(user.id, _label(user))] + [(u.id, _label(u)) for u in owners if u.id != user.id]
    form.set_choices(levels=dictionary.choices(dictionary.LEVEL), statuses=list(customers.STATUSES),
                     regions=dictionary.region_paths(), industries=dictionary.choices(dictionary.INDUSTRY),
                     sources=dictionary.choices(dictionary.SOURCE), owners=choices)
    for name in ("region", "industry", "source"):  # the stored item is Chinese, the label the reader's
        form[name].choices = labelled_choices(form[name].choices)
    form.lock(customers.locked_fields(user, creating=customer is None))
    if customer is None and request.method == "GET":
        form.owner_id.data = user.id
    return form, bool(owners)



@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Record a new customer; account managers own what they create, supervisors may pick the manager."""
    permissions.require(signed_in(), "customer.create")
    form, choose_owner = _form()
    return form_view(form, "customers/form.html", customer=None, choose_owner=choose_owner,
                     save=lambda: customers.create_customer(user=signed_in(),
                                                            values=form.values(with_owner=choose_owner)),
                     done=lambda customer: redirect_after(gettext("客户 %(number)s 已创建", number=customer.number),
                                                          url_for("customers.show", customer_id=customer.id)))


@bp.get("/<id:customer_id>")
@login_required
def show(customer_id: int):
    """The customer 360 page: header with actions, every linked record, shares and transfers."""
    user = signed_in()
    overview = customers.customer_overview(customer_id=customer_id, user=user)
    actions = overview.actions
    transfer_form, share_form = TransferForm(), ShareForm()
    transfer_to = [(u.id, _label(u)) for u in customers.assignable_owners(user)
                   if u.id != overview.customer.owner_id] if "transfer" in actions else []
    share_to = [(u.id, _label(u)) for u in customers.share_candidates(customer=overview.customer)] \
        if "share" in actions else []
    handed_over = handover.preview(customer=overview.customer) if transfer_to else []
    return render_template("customers/show.html", overview=overview, customer=overview.customer,
                           sections=overview.sections, actions=actions, transfer_form=transfer_form,
                           share_form=share_form, transfer_to=transfer_to, share_to=share_to,
                           handed_over=handed_over, kinds=TRANSFER_KINDS, order_labels=ORDER_STATUS_LABELS)


@bp.route("/<id:customer_id>/edit", methods=["GET", "POST"])
@login_required
def edit(customer_id: int):
    """Change a customer's record (not its number or owner)."""
    user = signed_in()
    customer = customers.get_customer(customer_id=customer_id, user=user)
    if request.method == "GET" and not permissions.customer_in_scope(user, customer_id, "customer.update"):
        flash(gettext("您只能查看此客户，不能修改"), "warning")
        return redirect(url_for("customers.show", customer_id=customer_id))
    form, _choose = _form(customer)
    return form_view(form, "customers/form.html", customer=customer, choose_owner=False,
                     save=lambda: customers.update_customer(customer_id=customer_id, user=user,
                                                            values=form.values(with_owner=False)),
                     done=lambda _: redirect_after(gettext("已保存修改"),
                                                   url_for("customers.show", customer_id=customer_id)))


def _back(customer_id: int | None = None):
    target = safe_next(request.form.get("next"))
    if target is not None:
        return redirect(target)
    if customer_id is not None:
        return redirect(url_for("customers.show", customer_id=customer_id))
    return redirect(url_for("customers.index"))


@bp.post("/<id:customer_id>/delete")
@login_required
def delete(customer_id: int):
    """Move the customer to the recycle bin (the confirmation happens in the page)."""
    customer = customers.get_customer(customer_id=customer_id, user=signed_in())
    number, name = customer.number, customer.name
    if act(lambda: customers.delete_customer(customer_id=customer_id, user=signed_in()),
           success=gettext("客户 %(number)s（%(name)s）已移入回收站", number=number, name=name)):
        return redirect(url_for("customers.index"))
    return redirect(url_for("customers.show", customer_id=customer_id))


@bp.post("/<id:customer_id>/claim")
@login_required
def claim(customer_id: int):
    """Take a customer from the public pool."""
    if act(lambda: customers.claim_customer(customer_id=customer_id, user=signed_in()),
           success=lambda customer: gettext("已领取客户 %(name)s", name=customer.name)):
        return redirect(url_for("customers.show", customer_id=customer_id))
    return _back(customer_id)


def _transfer(ids: list[int], back_to: int | None):
    form = TransferForm()
    # What one customer takes along, said in the message (the dialog showed the same counts).
    single = customers.get_customer(customer_id=back_to, user=signed_in()) if back_to is not None else None
    taken = [item for item in handover.preview(customer=single) if item.count] if single is not None else []
    try:
        moved = customers.transfer_customers(customer_ids=ids, to_user_id=form.to_user_id.data or 0,
                                             reason=form.reason.data, user=signed_in())
    except DomainError as exc:
        if exc.status == 404 and back_to is not None:
            raise
        flash(refusal_text(exc), "danger")
        return _back(back_to)
    if moved and taken:
        flash(gettext("已转移 %(count)s 个客户，随之转交：%(work)s", count=len(moved),
                      work=gettext("、").join(f"{item.label} {item.count}" for item in taken)), "success")
    else:
        flash(gettext("已转移 %(count)s 个客户", count=len(moved)), "success")
    return _back(back_to)


@bp.post("/<id:customer_id>/transfer")
@login_required
def transfer(customer_id: int):
    """Give one customer to another account manager."""
    return _transfer([customer_id], customer_id)


@bp.post("/transfer")
@login_required
def transfer_batch():
    """Give the checked customers of the list to another account manager."""
    ids = request.form.getlist("ids")[:customers.MAX_BATCH + 1]
    return _transfer(ids, None)


@bp.post("/<id:customer_id>/release")
@login_required
def release(customer_id: int):
    """Put the customer back into the public pool."""
    act(lambda: customers.release_customer(customer_id=customer_id, user=signed_in(),
                                           reason=(request.form.get("reason") or "")[:200]),
        success=gettext("客户已放入公海"))
    return redirect(url_for("customers.show", customer_id=customer_id))


@bp.post("/<id:customer_id>/shares")
@login_required
def share(customer_id: int):
    """Let a colleague read this customer."""
    form = ShareForm()
    shown = url_for("customers.show", customer_id=customer_id)
    if act(lambda: customers.share_customer(customer_id=customer_id, user_id=form.user_id.data or 0,
                                            user=signed_in()), success=gettext("已共享")):
        return redirect(shown + "#shares")
    return redirect(shown)


@bp.post("/<id:customer_id>/shares/<id:user_id>/delete")
@login_required
def unshare(customer_id: int, user_id: int):
    """Stop sharing this customer with a colleague."""
    try:
        customers.unshare_customer(customer_id=customer_id, user_id=user_id, user=signed_in())
    except DomainError as exc:
        if exc.status == 404 and not isinstance(exc, Invalid):
            customers.get_customer(customer_id=customer_id, user=signed_in())
        flash(translate(exc), "danger")
        return redirect(url_for("customers.show", customer_id=customer_id))
    flash(gettext("已取消共享"), "success")
    return redirect(url_for("customers.show", customer_id=customer_id) + "#shares")
