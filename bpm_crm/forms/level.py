"""The customer level rule form (客户等级规则), shared by the page and the API."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from bpm_crm.i18n import _


class LevelRuleForm(FlaskForm):
    """Promote to `level` when the order total of the last `months` months reaches `min_total`."""

    level = SelectField(_("客户等级"), validators=[InputRequired(_("请选择客户等级"))])
    min_total = DecimalField(_("订单金额不少于（元）"), places=2, validators=[
        InputRequired(_("请填写订单金额")), NumberRange(min=0, max=99_999_999_999_999,
                                                       message=_("订单金额应为不小于 0 的数字"))])
    months = IntegerField(_("统计最近几个月"), default=12, validators=[
        InputRequired(_("请填写统计月数")), NumberRange(min=1, max=60, message=_("统计月数应在 1 到 60 之间"))])
    active = BooleanField(_("启用"), default=True)

    def values(self) -> dict[str, Any]:
        return {"level": self.level.data, "min_total": self.min_total.data, "months": self.months.data,
                "active": bool(self.active.data)}
