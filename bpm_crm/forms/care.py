"""The care task (客户关怀) and its 完成 (done) note: field rules read by the page forms, the service and the API."""
from __future__ import annotations

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, choice, day, integer, record, record_id, text
from bpm_crm.i18n import _

CARE_TASK = record(
    "care_task",
    record_id("customer_id", _("客户"), required=N_("请选择客户")),
    record_id("contact_id", _("联系人"), description="A contact of that customer"),
    choice("kind", _("关怀类型"), N_("关怀类型不在数据字典中"), source="关怀类型", required=N_("请选择关怀类型"),
           description="An item of the 关怀类型 dictionary (生日, 节日, 售后回访, 自定义)"),
    text("title", _("关怀主题"), 200, required=N_("请填写关怀主题")),
    day("due_date", _("到期日期"), required=N_("请填写到期日期")),
    record_id("assignee_id", _("负责人"), description="Defaults to the customer's account manager"),
    text("note", _("备注"), 4000, multiline=True),
)
CARE_DONE = record("care_done", text("note", _("完成情况"), 4000, multiline=True))


class CareTaskForm(record_form(CARE_TASK)):  # type: ignore[misc]
    """客户关怀: customer, optional contact of that customer, kind, title, due date, assignee, note."""


class CareDoneForm(record_form(CARE_DONE)):  # type: ignore[misc]
    """标记完成: an optional note on how the care went."""

TRIGGERS = {"birthday": _("联系人生日"), "annual": _("每年固定日期（节日）"), "order": _("订单之后"),
            "service": _("客户服务办结之后")}
CALENDARS = {"solar": _("公历"), "lunar": _("农历")}
CARE_RULE = record(
    "care_rule",
    text("name", _("规则名称"), 60, required=N_("请填写规则名称")),
    choice("kind", _("关怀类型"), N_("关怀类型不在数据字典中"), source="关怀类型", required=N_("请选择关怀类型")),
    choice("trigger", _("触发"), N_("请选择触发条件"), options=TRIGGERS, required=N_("请选择触发条件")),
    choice("calendar", _("历法"), N_("历法应为公历或农历"), options=CALENDARS),
    integer("month", _("月"), 1, 12, N_("月份应为 1 到 12")),
    integer("day", _("日"), 1, 31, N_("日期应为 1 到 31")),
    integer("offset_days", _("相差天数"), -365, 365, N_("相差天数应在 -365 到 365 之间"),
            required=N_("请填写相差天数")),
    integer("lead_days", _("提前生成天数"), 0, 60, N_("提前天数应在 0 到 60 之间"), required=N_("请填写提前天数")),
    text("condition", _("适用条件"), 500, multiline=True,
         description="A diagram expression over `customer` and `contact`, e.g. customer[\"level\"] == \"VIP\""),
    text("message", _("关怀主题"), 200, required=N_("请填写关怀主题")),
)


class CareRuleForm(record_form(CARE_RULE)):  # type: ignore[misc]
    """关怀规则: what triggers it, when the task is due and made, for whom, and what it says."""
