"""The care task (客户关怀) forms: the task itself and the 完成 (done) note."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bpm_crm.forms.contact import TOO_LONG, cleaned
from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


class CareTaskForm(FlaskForm):
    """客户关怀: customer, optional contact of that customer, kind, title, due date, assignee, note."""

    customer_id = SelectField(_("客户"), coerce=coerce_id, validators=[DataRequired(_("请选择客户"))],
                              validate_choice=False)
    contact_id = SelectField(_("联系人"), coerce=coerce_id, validators=[Optional()], validate_choice=False)
    kind = SelectField(_("关怀类型"), validators=[DataRequired(_("请选择关怀类型"))], validate_choice=False)
    title = StringField(_("关怀主题"), validators=[DataRequired(_("请填写关怀主题")),
                                                   Length(max=200, message=TOO_LONG)])
    due_date = StringField(_("到期日期"), validators=[DataRequired(_("请填写到期日期"))], render_kw={"type": "date"})
    assignee_id = SelectField(_("负责人"), coerce=coerce_id, validators=[Optional()], validate_choice=False)
    note = TextAreaField(_("备注"), validators=[Optional(), Length(max=4000, message=TOO_LONG)])

    def values(self) -> dict[str, Any]:
        return cleaned(self)


class CareDoneForm(FlaskForm):
    """标记完成: an optional note on how the care went."""

    note = TextAreaField(_("完成情况"), validators=[Optional(), Length(max=4000, message=TOO_LONG)])
