"""The churn warning (流失预警) forms: raise one, add a measure, confirm with a reason."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from bpm_crm.forms.contact import TOO_LONG
from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


class ChurnWarningForm(FlaskForm):
    """发起流失预警: the customer (one the user manages or supervises)."""

    customer_id = SelectField(_("客户"), coerce=coerce_id, validators=[DataRequired(_("请选择客户"))],
                              validate_choice=False)


class MeasureForm(FlaskForm):
    """暂缓措施: appended to the warning with time and author, never edited."""

    content = TextAreaField(_("暂缓措施"), validators=[DataRequired(_("请填写暂缓措施")),
                                                     Length(max=4000, message=TOO_LONG)])


class ConfirmForm(FlaskForm):
    """确认流失: the reason is required."""

    reason = TextAreaField(_("流失原因"), validators=[DataRequired(_("请填写流失原因")),
                                                    Length(max=4000, message=TOO_LONG)])
