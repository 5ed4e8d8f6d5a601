"""The interaction (交往记录) form of the pages; the service checks the same rules for the API."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bpm_crm.forms.contact import TOO_LONG, cleaned
from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


class InteractionForm(FlaskForm):
    """交往记录: date (not in the future), place, summary, detail, remarks."""

    customer_id = SelectField(_("客户"), coerce=coerce_id, validators=[DataRequired(_("请选择客户"))],
                              validate_choice=False)
    date = StringField(_("日期"), validators=[DataRequired(_("请填写日期"))], render_kw={"type": "date"})
    place = StringField(_("地点"), validators=[DataRequired(_("请填写地点")), Length(max=120, message=TOO_LONG)])
    summary = StringField(_("概要"), validators=[DataRequired(_("请填写概要")), Length(max=200, message=TOO_LONG)])
    detail = TextAreaField(_("详细信息"), validators=[Optional(), Length(max=4000, message=TOO_LONG)])
    remarks = TextAreaField(_("备注"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])

    def values(self) -> dict[str, Any]:
        return cleaned(self)
