"""The opportunity (销售机会): its field rules, read by the page form, the service and the API schema."""
from __future__ import annotations

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, integer, phone, record, text
from bpm_crm.i18n import _

OPPORTUNITY = record(
    "opportunity",
    text("source", _("机会来源"), 60),
    text("customer_name", _("客户名称"), 120, required=N_("请填写客户名称")),
    integer("probability", _("成功机率 (%)"), 0, 100, N_("成功机率应在 0 到 100 之间"),
            required=N_("请填写成功机率")),
    text("summary", _("概要"), 200, required=N_("请填写概要")),
    text("contact", _("联系人"), 60),
    phone("contact_phone", _("联系电话")),
    text("description", _("机会描述"), 4000, required=N_("请填写机会描述"), multiline=True),
)


class OpportunityForm(record_form(OPPORTUNITY)):  # type: ignore[misc]
    """销售机会: the fields of SPEC §3; number, creator and times are set by the system."""
