"""The opportunity record form, shared by the pages and the API."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from bpm_crm.i18n import _

PHONE = Regexp(r"^[0-9+\-() ]{5,40}$", message=_("电话号码格式不正确"))


class OpportunityForm(FlaskForm):
    """销售机会: the fields of SPEC §3; number, creator and times are set by the system."""

    source = StringField(_("机会来源"), validators=[Optional(), Length(max=60)])
    customer_name = StringField(_("客户名称"), validators=[DataRequired(_("请填写客户名称")), Length(max=120)])
    probability = IntegerField(
        _("成功机率 (%)"),
        validators=[InputRequired(_("请填写成功机率")), NumberRange(0, 100, _("成功机率应在 0 到 100 之间"))],
    )
    summary = StringField(_("概要"), validators=[DataRequired(_("请填写概要")), Length(max=200)])
    contact = StringField(_("联系人"), validators=[Optional(), Length(max=60)])
    contact_phone = StringField(_("联系电话"), validators=[Optional(), PHONE])
    description = TextAreaField(_("机会描述"), validators=[DataRequired(_("请填写机会描述")), Length(max=4000)])

    def values(self) -> dict[str, Any]:
        """The cleaned values, empty optional strings as None."""
        return {
            name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
            for name, field in self._fields.items()
            if name != "csrf_token"
        }
