"""Product and stock pages: search with stock totals, product detail with stock per warehouse, maintenance."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from bpm_crm.forms.product import ProductForm, StockForm, WarehouseForm
from bpm_crm.services import permissions, products, sales
from bpm_crm.web.exports import MAX_EXPORT_ROWS, xlsx_response
from bpm_crm.web.pages import form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg

bp = Blueprint("products", __name__, url_prefix="/products")



def _filters() -> dict[str, str | None]:
    return {name: (request.args.get(name) or "").strip()[:100] or None for name in ("q", "model", "batch")}



@bp.get("/")
@login_required
def index():
    """Products searched by name or code, model and batch, with their total stock."""
    filters = _filters()
    page = sales.search_products(user=signed_in(), **filters, page=page_arg(),
                                 per_page=current_app.config["PAGE_SIZE"])
    return render_template("products/index.html", page=page, filters=filters,
                           may_manage=permissions.can(signed_in(), "product.manage"))


@bp.get("/export.xlsx")
@login_required
def export():
    """The product list with the current filters as an Excel file."""
    page = sales.search_products(user=signed_in(), **_filters(), page=1, per_page=MAX_EXPORT_ROWS)
    headers = [gettext("产品编码"), gettext("产品名称"), gettext("型号"), gettext("批次"), gettext("单位"),
               gettext("单价"), gettext("库存合计")]
    rows = ([i.product.code, i.product.name, i.product.model, i.product.batch, i.product.unit, i.product.price,
             i.stock] for i in page.items)
    return xlsx_response(name=gettext("产品"), headers=headers, rows=rows)


@bp.get("/stock")
@login_required
def stock():
    """Stock rows by warehouse and/or product."""
    user = signed_in()
    warehouse_id = id_arg("warehouse_id")
    product_id = id_arg("product_id")
    page = sales.inventory(user=user, product_id=product_id, warehouse_id=warehouse_id,
                           page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    return render_template("products/stock.html", page=page, warehouses=sales.list_warehouses(user=user),
                           warehouse_id=warehouse_id, product_id=product_id)


@bp.get("/<id:product_id>")
@login_required
def show(product_id: int):
    """One product with its stock in each warehouse."""
    user = signed_in()
    product = sales.get_product(product_id=product_id, user=user)
    stock = sales.product_stock(product_id=product_id, user=user)
    form = None
    if permissions.can(user, "product.manage"):
        form = StockForm()
        form.warehouse_id.choices = [(w.id, w.name) for w in sales.list_warehouses(user=user)]
    return render_template("products/show.html", product=product, stock=stock, form=form,
                           total=sum(item.quantity for item in stock))


@bp.post("/<id:product_id>/stock")
@login_required
def set_stock(product_id: int):
    """Set the stock of the product in one warehouse."""
    user = signed_in()
    permissions.require(user, "product.manage")
    form = StockForm()
    form.warehouse_id.choices = [(w.id, w.name) for w in sales.list_warehouses(user=user)]
    product = sales.get_product(product_id=product_id, user=user)
    stock = sales.product_stock(product_id=product_id, user=user)
    return form_view(form, "products/show.html", product=product, stock=stock,
                     total=sum(item.quantity for item in stock),
                     save=lambda: products.set_stock(user=user, product_id=product_id,
                                                     warehouse_id=form.warehouse_id.data, quantity=form.quantity.data),
                     done=lambda _: redirect_after(gettext("库存已更新"),
                                                   url_for("products.show", product_id=product_id)))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Add a product to the built-in sales system."""
    permissions.require(signed_in(), "product.manage")
    form = ProductForm()
    return form_view(form, "products/form.html", product=None,
                     save=lambda: products.create_product(user=signed_in(), values=form.values()),
                     done=lambda product: redirect_after(gettext("产品 %(name)s 已创建", name=product.name),
                                                         url_for("products.show", product_id=product.id)))


@bp.route("/<id:product_id>/edit", methods=["GET", "POST"])
@login_required
def edit(product_id: int):
    """Change a product."""
    user = signed_in()
    permissions.require(user, "product.manage")
    product = sales.get_product(product_id=product_id, user=user)
    form = ProductForm(obj=product)
    return form_view(form, "products/form.html", product=product,
                     save=lambda: products.update_product(product_id=product_id, user=user, values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存修改"),
                                                   url_for("products.show", product_id=product_id)))


@bp.route("/warehouses", methods=["GET", "POST"])
@login_required
def warehouses():
    """The warehouses, and a form to add one (product.manage)."""
    user = signed_in()
    may_manage = permissions.can(user, "product.manage")
    form = WarehouseForm()
    if request.method == "POST":
        permissions.require(user, "product.manage")
    return form_view(form, "products/warehouses.html", warehouses=sales.list_warehouses(user=user),
                     may_manage=may_manage, save=lambda: products.create_warehouse(user=user, **form.values()),
                     done=lambda warehouse: redirect_after(gettext("仓库 %(name)s 已创建", name=warehouse.name),
                                                           url_for("products.warehouses")))
