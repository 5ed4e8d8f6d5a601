"""The service request (客户服务) record form; the service re-checks the type against the dictionary."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


class ServiceRequestForm(FlaskForm):
    """客户服务: number, creator, status and the handling fields are set by the system and the process."""

    type = SelectField(_("服务类型"), validate_choice=False, validators=[DataRequired(_("请选择服务类型"))])
    customer_id = SelectField(_("客户"), coerce=coerce_id, validate_choice=False,
                              validators=[InputRequired(_("请选择客户"))])
    summary = StringField(_("概要"), validators=[DataRequired(_("请填写概要")), Length(max=200)])
    detail = TextAreaField(_("服务请求"), validators=[DataRequired(_("请填写服务请求")), Length(max=4000)])

    def values(self) -> dict[str, Any]:
        return {
            name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
            for name, field in self._fields.items()
            if name != "csrf_token"
        }
