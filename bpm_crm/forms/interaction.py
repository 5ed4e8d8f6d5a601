"""The interaction (交往记录): its field rules, read by the page form, the service and the API schema."""
from __future__ import annotations

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, day, record, record_id, text
from bpm_crm.i18n import _

INTERACTION = record(
    "interaction",
    record_id("customer_id", _("客户"), required=N_("请选择客户")),
    day("date", _("日期"), required=N_("请填写日期"), description="Not after today (company time zone)"),
    text("place", _("地点"), 120, required=N_("请填写地点")),
    text("summary", _("概要"), 200, required=N_("请填写概要")),
    text("detail", _("详细信息"), 4000, multiline=True),
    text("remarks", _("备注"), 2000, multiline=True),
)


class InteractionForm(record_form(INTERACTION)):  # type: ignore[misc]
    """交往记录: date (not in the future, checked by the service), place, summary, detail, remarks."""
