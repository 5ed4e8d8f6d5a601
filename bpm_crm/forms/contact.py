"""The contact (联系人): its field rules, read by the page form, the service and the API schema."""
from __future__ import annotations

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, choice, day, email, matching, phone, record, record_id, text
from bpm_crm.i18n import _

CONTACT = record(
    "contact",
    record_id("customer_id", _("所属客户"), required=N_("请选择客户")),
    text("name", _("姓名"), 60, required=N_("请填写姓名")),
    choice("gender", _("性别"), N_("性别应为“男”或“女”"), options={"男": _("男"), "女": _("女")},
           required=N_("请选择性别")),
    text("position", _("职位"), 60, required=N_("请填写职位")),
    phone("office_phone", _("办公电话"), required=N_("请填写办公电话")),
    phone("mobile", _("手机")),
    email("email", _("电子邮箱")),
    day("birthday", _("生日")),
    # A birthday kept in the lunar calendar (农历), month and day; care rules greet on its solar day each year.
    matching("lunar_birthday", _("农历生日"), 5, r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|30)$",
             N_("农历生日应写成“月-日”，如 08-15")),
    text("remarks", _("备注"), 2000, multiline=True),
)

class ContactForm(record_form(CONTACT)):  # type: ignore[misc]
    """联系人: SPEC §3 fields; the customer is one the user may update (checked by the service)."""
