"""Contact pages (联系人): list with search and export, create from a customer, detail, edit, delete."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, pgettext
from flask_login import login_required

from bpm_crm.forms.contact import ContactForm
from bpm_crm.services import contacts, permissions
from bpm_crm.web import exports
from bpm_crm.web.customer_records import (
    after_create,
    back_to_customer,
    fill_customer_choices,
    filtered_customer,
    locked_customer,
    new_record_customer,
)
from bpm_crm.web.pages import act, form_view, redirect_after, signed_in
from bpm_crm.web.query_args import id_arg, page_arg, text_arg

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

WRITE = contacts.WRITE
REFUSED = "您只能查看此客户，不能为其添加联系人"


def _filters() -> dict:
    sort = request.args.get("sort")
    return {"q": text_arg("q"), "customer_id": id_arg("customer_id"),
            "sort": sort if sort in contacts.SORTS else "newest"}


@bp.get("/")
@login_required
def index():
    """Visible contacts: search, filter by customer, sort, page."""
    filters = _filters()
    customer = filtered_customer(filters["customer_id"])
    page = contacts.list_contacts(user=signed_in(), **filters, page=page_arg(),
                                  per_page=current_app.config["PAGE_SIZE"])
    return render_template("contacts/index.html", page=page, filters=filters, customer=customer,
                           may_write=permissions.can(signed_in(), WRITE))


@bp.get("/export.xlsx")
@login_required
def export():
    """The contacts of the current search and filters as an Excel file."""
    rows = contacts.export_contacts(user=signed_in(), limit=exports.MAX_EXPORT_ROWS, **_filters())
    headers = [gettext("客户编号"), gettext("客户名称"), gettext("姓名"), gettext("性别"), gettext("职位"),
               gettext("办公电话"), gettext("手机"), gettext("电子邮箱"), gettext("生日"), gettext("备注")]
    return exports.xlsx_response(name=pgettext("section", "联系人"), headers=headers, rows=(
        [c.customer.number, c.customer.name, c.name, gettext(c.gender), c.position, c.office_phone, c.mobile,
         c.email, c.birthday, c.remarks] for c in rows))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Add a contact; opened from a customer page the customer is fixed and saving returns there."""
    locked = locked_customer(action=WRITE, refused=REFUSED)
    form = ContactForm()
    new_record_customer(form, action=WRITE, locked=locked)
    return form_view(form, "contacts/form.html", contact=None, locked=locked,
                     save=lambda: contacts.create_contact(user=signed_in(), values=form.values()),
                     done=lambda contact: redirect_after(
                         gettext("已添加联系人 %(name)s", name=contact.name),
                         after_create(locked, url_for("contacts.show", contact_id=contact.id))))


@bp.get("/<id:contact_id>")
@login_required
def show(contact_id: int):
    """One contact with its customer."""
    contact = contacts.get_contact(contact_id=contact_id, user=signed_in())
    may_write = permissions.customer_in_scope(signed_in(), contact.customer_id, WRITE)
    return render_template("contacts/show.html", contact=contact, may_write=may_write)


@bp.route("/<id:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contact_id: int):
    """Change a contact of a customer the user may update."""
    contact = contacts.get_contact(contact_id=contact_id, user=signed_in())
    form = ContactForm(obj=contact)
    fill_customer_choices(form, action=WRITE, selected=contact.customer_id)
    shown = url_for("contacts.show", contact_id=contact_id)
    if request.method == "GET":
        if not permissions.customer_in_scope(signed_in(), contact.customer_id, WRITE):
            flash(gettext("您只能查看此联系人，不能修改或删除"), "warning")
            return redirect(shown)
        form.birthday.data = contact.birthday.isoformat() if contact.birthday else ""
    return form_view(form, "contacts/form.html", contact=contact, locked=None,
                     save=lambda: contacts.update_contact(contact_id=contact_id, user=signed_in(),
                                                          values=form.values()),
                     done=lambda _: redirect_after(gettext("已保存修改"), shown))


@bp.post("/<id:contact_id>/delete")
@login_required
def delete(contact_id: int):
    """Move a contact to the recycle bin (confirmed in the page); back to its customer."""
    contact = contacts.get_contact(contact_id=contact_id, user=signed_in())
    name, customer_id = contact.name, contact.customer_id
    if not act(lambda: contacts.delete_contact(contact_id=contact_id, user=signed_in()),
               success=gettext("联系人 %(name)s 已移入回收站", name=name)):
        return redirect(url_for("contacts.show", contact_id=contact_id))
    return redirect(back_to_customer(customer_id, url_for("contacts.index", customer_id=customer_id)))
