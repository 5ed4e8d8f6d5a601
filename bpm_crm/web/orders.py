"""Order pages: a customer's order history (已发货/已回款), an order's detail, the order import."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.error_messages import translate
from bpm_crm.errors import Invalid
from bpm_crm.i18n import _
from bpm_crm.services import order_import, permissions, sales
from bpm_crm.web.exports import MAX_EXPORT_ROWS, xlsx_response
from bpm_crm.web.pages import act, signed_in
from bpm_crm.web.query_args import page_arg

bp = Blueprint("orders", __name__)

# The sales system's order states (ORDER_STATUS_LABELS), marked for translation.
STATUS_TEXT = {1: _("新建"), 2: _("已审核"), 3: _("备货中"), 4: _("部分发货"), 5: _("已发货"), 6: _("已回款")}



@bp.app_template_filter("order_status")
def order_status(value: int | None) -> str:
    """An order status number as its (translated) label."""
    label = STATUS_TEXT.get(value or 0)
    return str(label) if label else str(value or "")


@bp.app_template_filter("yuan")
def yuan(value) -> str:
    """An amount as ¥1,234.50."""
    return "" if value is None else f"¥{value:,.2f}"


@bp.get("/customers/<id:customer_id>/orders")
@login_required
def customer_history(customer_id: int):
    """The customer's shipped and paid orders, newest first, each with its lines and total."""
    user = signed_in()
    customer = sales.order_customer(customer_id=customer_id, user=user)
    page = sales.customer_orders(customer_id=customer_id, user=user, page=page_arg(),
                                 per_page=current_app.config["PAGE_SIZE"])
    return render_template("orders/history.html", customer=customer, page=page)


@bp.get("/customers/<id:customer_id>/orders/export.xlsx")
@login_required
def export_history(customer_id: int):
    """The customer's order history as an Excel file, one row per order line."""
    user = signed_in()
    customer = sales.order_customer(customer_id=customer_id, user=user)
    page = sales.customer_orders(customer_id=customer_id, user=user, page=1, per_page=MAX_EXPORT_ROWS)
    headers = [gettext("订单号"), gettext("下单日期"), gettext("状态"), gettext("产品名称"), gettext("数量"),
               gettext("单价"), gettext("金额"), gettext("订单总额")]
    rows = ([order.number, order.order_date, order_status(order.status), line.product_name, line.quantity,
             line.unit_price, line.amount, order.total] for order in page.items for line in order.lines)
    return xlsx_response(name=gettext("%(name)s 历史订单", name=customer.name), headers=headers, rows=rows)


@bp.get("/orders/<id:order_id>")
@login_required
def show(order_id: int):
    """One order with its lines and total."""
    order = sales.get_order(order_id=order_id, user=signed_in())
    return render_template("orders/show.html", order=order)


@bp.get("/orders/import")
@login_required
def import_upload():
    """The upload form of the order import, with the expected columns."""
    permissions.require(signed_in(), "order.import")
    return render_template("orders/import.html", preview=None, error=None)


@bp.get("/orders/import/template.xlsx")
@login_required
def import_template():
    """An empty import file with the expected headers and one example row."""
    permissions.require(signed_in(), "order.import")
    example = ["DD20260001", "KH000001", "", "2026-01-15", "已发货", "", "办公软件标准版", 10, "1200.00",
               "杭州市西湖区文三路 1 号"]
    return xlsx_response(name=gettext("订单导入模板"), headers=order_import.TEMPLATE_HEADERS, rows=[example])


@bp.post("/orders/import")
@login_required
def upload():
    """Check an uploaded file and show every row's errors; nothing is written yet."""
    permissions.require(signed_in(), "order.import")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("orders/import.html", preview=None, error=gettext("请选择要上传的文件")), 422
    try:
        preview = order_import.upload(user=signed_in(), data=upload.read(), filename=upload.filename)
    except Invalid as exc:
        return render_template("orders/import.html", preview=None, error=translate(exc)), 422
    return render_template("orders/import.html", preview=preview, error=None)


@bp.get("/orders/import/<id:job_id>")
@login_required
def import_preview(job_id: int):
    """The check of an uploaded file, again."""
    preview = order_import.preview(user=signed_in(), job_id=job_id)
    return render_template("orders/import.html", preview=preview, error=None)


@bp.post("/orders/import/<id:job_id>/commit")
@login_required
def commit(job_id: int):
    """Write every order of the file, or none."""
    act(lambda: order_import.commit(user=signed_in(), job_id=job_id),
        success=lambda result: gettext(
            "已导入 %(orders)s 个订单（%(lines)s 行明细），%(levels)s 个客户的等级已按规则提升",
            orders=result.orders, lines=result.lines, levels=result.levels_changed))
    return redirect(url_for("orders.import_preview", job_id=job_id))
