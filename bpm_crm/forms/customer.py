"""Customer forms: the record (基本信息 / 工商信息 / 财务信息), transfer, release and share."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from bpm_crm.forms.record_form import form_values, record_form
from bpm_crm.forms.rules import N_, FieldRule, choice, decimal, integer, matching, phone, record, text
from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id

PICK = N_("请从列表中选择")
SCORE = N_("应为 1 到 5 之间的整数")
MAX_MONEY = Decimal("99999999999999.99")


def _money(name: str, label: Any) -> FieldRule:
    return decimal(name, label, Decimal(0), MAX_MONEY, N_("金额应为不小于 0 的数字"), not_number=N_("应为金额"),
                   description="Decimal amount ≥ 0, kept to two places")


CUSTOMER = record(
    "customer",
    # 基本信息
    text("name", _("客户名称"), 120, required=N_("请填写客户名称")),
    text("short_name", _("简称"), 60),
    choice("level", _("客户等级"), PICK, source="客户等级", description=(
        "An item of the dictionary type 客户等级 (普通/重点/VIP), kept by the level rules: it may be given when "
        "creating a customer; only admins may change it afterwards (422 for anyone else)")),
    choice("status", _("状态"), PICK, source="CustomerStatus", description=(
        "正常 for a new customer; 已流失 is set by the churn process; only admins may set it (422 for anyone else)")),
    choice("region", _("地区"), PICK, source="地区",
           description="A region path of the dictionary, e.g. 浙江省/杭州市"),
    choice("industry", _("行业"), PICK, source="行业", description="An item of the dictionary type 行业"),
    choice("source", _("客户来源"), PICK, source="客户来源", description="An item of the dictionary type 客户来源"),
    integer("satisfaction", _("满意度"), 1, 5, SCORE, select=True),
    integer("credit", _("信用度"), 1, 5, SCORE, select=True),
    text("contact_name", _("主要联系人"), 60),
    phone("phone", _("电话")),
    phone("fax", _("传真")),
    text("website", _("网址"), 200),
    text("address", _("地址"), 200),
    matching("postcode", _("邮政编码"), 10, r"^[0-9]{6}$", N_("邮政编码应为 6 位数字")),
    text("remarks", _("备注"), 4000, multiline=True),
    # 工商信息
    text("licence_no", _("营业执照注册号"), 40),
    text("legal_representative", _("法人代表"), 60),
    _money("registered_capital", _("注册资金（万元）")),
    _money("annual_turnover", _("年营业额（万元）")),
    # 财务信息
    text("bank", _("开户银行"), 120),
    text("bank_account", _("银行账号"), 60),
    text("tax_no", _("税务登记号"), 40),
)
LOCKED_HINTS = {"status": _("状态由流失处理流程维护"), "level": _("等级由等级规则维护")}


def _blank(label: str) -> list[tuple[str, str]]:
    return [("", label)]


class CustomerForm(record_form(CUSTOMER)):  # type: ignore[misc]
    """客户: the fields of SPEC §3; the number, creator and times are set by the system.

    Choice lists come from the data dictionary (`set_choices`); the service checks the chosen values again.
    """

    # Not a field rule: who may own a new customer depends on the user (the service checks it).
    owner_id = SelectField(_("客户经理"), coerce=coerce_id, validate_choice=False)

    def set_choices(self, *, levels: list[str], statuses: list[str], regions: list[str], industries: list[str],
                    sources: list[str], owners: list[tuple[int, str]]) -> None:
        """Fill the select lists; a region shows as an indented path ("浙江省 / 杭州市")."""
        self.level.choices = [(v, v) for v in levels]
        self.status.choices = [(v, v) for v in statuses]
        self.region.choices = _blank(str(_("请选择地区"))) + [(v, v.replace("/", " / ")) for v in regions]
        self.industry.choices = _blank(str(_("请选择行业"))) + [(v, v) for v in industries]
        self.source.choices = _blank(str(_("请选择客户来源"))) + [(v, v) for v in sources]
        self.owner_id.choices = [(str(uid), label) for uid, label in owners]
        scores = [(str(n), f"{n} {'★' * n}") for n in range(1, 6)]
        self.satisfaction.choices = _blank(str(_("未评价"))) + scores
        self.credit.choices = _blank(str(_("未评价"))) + scores

    def lock(self, names: set[str]) -> None:
        """Show these process-kept fields without letting them change (the service refuses a change anyway)."""
        for name in names:
            self[name].render_kw = {"disabled": True, "title": str(LOCKED_HINTS[name])}

    def values(self, *, with_owner: bool) -> dict[str, Any]:  # type: ignore[override]
        """The cleaned values, empty optional strings as None; owner_id only when it may be chosen."""
        values = {name: value for name, value in form_values(self).items() if name != "owner_id"}
        if with_owner:
            values["owner_id"] = self.owner_id.data
        return values


class TransferForm(FlaskForm):
    """转移: the new account manager and why."""

    to_user_id = SelectField(_("转移给"), coerce=coerce_id, validate_choice=False,
                             validators=[DataRequired(_("请选择一位在职的客户经理"))])
    reason = StringField(_("转移原因"), validators=[Optional(), Length(max=200)])


class ShareForm(FlaskForm):
    """共享: the colleague who may read the customer."""

    user_id = SelectField(_("共享给"), coerce=coerce_id, validate_choice=False,
                          validators=[DataRequired(_("请选择共享对象"))])
