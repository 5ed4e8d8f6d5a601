"""The churn warning (流失预警) forms: raise one, add a measure, confirm with a reason — each from its rules."""
from __future__ import annotations

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, record, record_id, text
from bpm_crm.i18n import _

CHURN_WARNING = record("churn_warning", record_id("customer_id", _("客户"), required=N_("请选择客户")))
MEASURE = record("churn_measure", text("content", _("暂缓措施"), 4000, required=N_("请填写暂缓措施"), multiline=True))
CONFIRMATION = record("churn_confirmation",
                      text("reason", _("流失原因"), 4000, required=N_("请填写流失原因"), multiline=True))


class ChurnWarningForm(record_form(CHURN_WARNING)):  # type: ignore[misc]
    """发起流失预警: the customer (one the user manages or supervises)."""


class MeasureForm(record_form(MEASURE)):  # type: ignore[misc]
    """暂缓措施: appended to the warning with time and author, never edited."""


class ConfirmForm(record_form(CONFIRMATION)):  # type: ignore[misc]
    """确认流失: the reason is required."""
