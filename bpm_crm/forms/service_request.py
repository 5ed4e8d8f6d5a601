"""The service request (客户服务): its field rules, read by the page form, the service and the API schema."""
from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, choice, record, record_id, text
from bpm_crm.i18n import _

SERVICE_REQUEST = record(
    "service_request",
    choice("type", _("服务类型"), N_("服务类型不在数据字典中"), source="服务类型", required=N_("请选择服务类型"),
           description="An item of the dictionary type 服务类型 (咨询, 建议, 投诉)"),
    record_id("customer_id", _("客户"), required=N_("请选择客户")),
    text("summary", _("概要"), 200, required=N_("请填写概要")),
    text("detail", _("服务请求"), 4000, required=N_("请填写服务请求"), multiline=True),
)


class ServiceRequestForm(record_form(SERVICE_REQUEST)):  # type: ignore[misc]
    """客户服务: number, creator, status and the handling fields are set by the system and the process."""

    # A consultation or suggestion answered while the customer is on the line closes at once (简易工单).
    answer = TextAreaField(_("当场答复"), validators=[Optional(), Length(max=2000)])
