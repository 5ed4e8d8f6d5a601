"""Customer forms: the record (基本信息 / 工商信息 / 财务信息), transfer, release and share."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id

PHONE = Regexp(r"^[0-9+\-() ]{5,40}$", message=_("电话号码格式不正确"))
POSTCODE = Regexp(r"^\d{6}$", message=_("邮政编码应为 6 位数字"))
MONEY = [Optional(), NumberRange(min=0, message=_("金额应为不小于 0 的数字"))]


LOCKED_HINTS = {"status": _("状态由流失处理流程维护"), "level": _("等级由等级规则维护")}


def _optional_score(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1  # refused by the service with a field message


def _blank(label: str) -> list[tuple[str, str]]:
    return [("", label)]


class CustomerForm(FlaskForm):
    """客户: the fields of SPEC §3; the number, creator and times are set by the system.

    Choice lists come from the data dictionary (`set_choices`); the service validates the chosen values.
    """

    # 基本信息
    name = StringField(_("客户名称"), validators=[DataRequired(_("请填写客户名称")), Length(max=120)])
    short_name = StringField(_("简称"), validators=[Optional(), Length(max=60)])
    level = SelectField(_("客户等级"), validate_choice=False)
    status = SelectField(_("状态"), validate_choice=False)
    region = SelectField(_("地区"), validate_choice=False)
    industry = SelectField(_("行业"), validate_choice=False)
    source = SelectField(_("客户来源"), validate_choice=False)
    owner_id = SelectField(_("客户经理"), coerce=coerce_id, validate_choice=False)
    satisfaction = SelectField(_("满意度"), coerce=_optional_score, validate_choice=False)
    credit = SelectField(_("信用度"), coerce=_optional_score, validate_choice=False)
    contact_name = StringField(_("主要联系人"), validators=[Optional(), Length(max=60)])
    phone = StringField(_("电话"), validators=[Optional(), PHONE])
    fax = StringField(_("传真"), validators=[Optional(), PHONE])
    website = StringField(_("网址"), validators=[Optional(), Length(max=200)])
    address = StringField(_("地址"), validators=[Optional(), Length(max=200)])
    postcode = StringField(_("邮政编码"), validators=[Optional(), POSTCODE])
    remarks = TextAreaField(_("备注"), validators=[Optional(), Length(max=4000)])
    # 工商信息
    licence_no = StringField(_("营业执照注册号"), validators=[Optional(), Length(max=40)])
    legal_representative = StringField(_("法人代表"), validators=[Optional(), Length(max=60)])
    registered_capital = DecimalField(_("注册资金（万元）"), places=2, validators=MONEY)
    annual_turnover = DecimalField(_("年营业额（万元）"), places=2, validators=MONEY)
    # 财务信息
    bank = StringField(_("开户银行"), validators=[Optional(), Length(max=120)])
    bank_account = StringField(_("银行账号"), validators=[Optional(), Length(max=60)])
    tax_no = StringField(_("税务登记号"), validators=[Optional(), Length(max=40)])

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

    def values(self, *, with_owner: bool) -> dict[str, Any]:
        """The cleaned values, empty optional strings as None; owner_id only when it may be chosen."""
        values = {
            name: (f.data.strip() or None) if isinstance(f.data, str) else f.data
            for name, f in self._fields.items()
            if name not in ("csrf_token", "owner_id")
        }
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
