"""The contact (联系人) form of the pages; the service checks the same rules for the API."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id

PHONE = Regexp(r"^[0-9+\-() ]{5,40}$", message=_("电话号码格式不正确"))
EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_("电子邮箱格式不正确"))
TOO_LONG = _("最多 %(max)d 个字符")


def cleaned(form: FlaskForm) -> dict[str, Any]:
    """A form's values for a service: text trimmed, empty text as None, dates as YYYY-MM-DD text."""
    return {name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
            for name, field in form._fields.items() if name != "csrf_token"}


class ContactForm(FlaskForm):
    """联系人: SPEC §3 fields; the customer is one the user may update."""

    customer_id = SelectField(_("所属客户"), coerce=coerce_id, validators=[DataRequired(_("请选择客户"))],
                              validate_choice=False)
    name = StringField(_("姓名"), validators=[DataRequired(_("请填写姓名")), Length(max=60, message=TOO_LONG)])
    gender = SelectField(_("性别"), choices=[("", _("请选择")), ("男", _("男")), ("女", _("女"))],
                         validators=[DataRequired(_("请选择性别")), AnyOf(["男", "女"], _("性别应为“男”或“女”"))],
                         validate_choice=False)
    position = StringField(_("职位"), validators=[DataRequired(_("请填写职位")), Length(max=60, message=TOO_LONG)])
    office_phone = StringField(_("办公电话"), validators=[DataRequired(_("请填写办公电话")), PHONE])
    mobile = StringField(_("手机"), validators=[Optional(), PHONE])
    email = StringField(_("电子邮箱"), validators=[Optional(), Length(max=120, message=TOO_LONG), EMAIL])
    birthday = StringField(_("生日"), validators=[Optional()], render_kw={"type": "date"})
    remarks = TextAreaField(_("备注"), validators=[Optional(), Length(max=2000, message=TOO_LONG)])

    def values(self) -> dict[str, Any]:
        return cleaned(self)
