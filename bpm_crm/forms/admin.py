"""Administration forms: users, passwords, roles, departments, dictionary entries."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional, Regexp, ValidationError

from bpm_crm.forms.rules import MOBILE_MESSAGE, chinese_mobile
from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id, parse_id

NONE = 0  # the "—" choice of optional selects


def _optional_id(value: Any) -> int:
    return parse_id(value) or NONE


def _chinese_mobile(_form: FlaskForm, field: StringField) -> None:
    try:
        chinese_mobile(field.data)
    except ValueError:
        raise ValidationError(str(_(MOBILE_MESSAGE))) from None


class CheckboxList(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class UserForm(FlaskForm):
    """用户: username and password only when creating; roles as checkboxes."""

    username = StringField(_("用户名"), validators=[
        DataRequired(_("请填写用户名")), Length(max=60),
        Regexp(r"^[A-Za-z0-9_.\-@]{2,60}$", message=_("用户名为2到60位字母、数字或 _ . - @"))])
    full_name = StringField(_("姓名"), validators=[DataRequired(_("请填写姓名")), Length(max=60)])
    email = StringField(_("邮箱"), validators=[Optional(), Length(max=120),
                                                Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_("邮箱格式不正确"))])
    mobile = StringField(_("手机"), validators=[Optional(), Length(max=40), _chinese_mobile])
    password = PasswordField(_("初始密码"), validators=[DataRequired(_("请填写密码")),
                                                      Length(min=8, max=200, message=_("密码至少8位"))])
    department_id = SelectField(_("部门"), coerce=_optional_id, validate_choice=False)
    superior_id = SelectField(_("上级"), coerce=_optional_id, validate_choice=False)
    role_ids = CheckboxList(_("角色"), coerce=coerce_id, validators=[DataRequired(_("请至少选择一个角色"))])

    def values(self) -> dict[str, Any]:
        return {"username": self.username.data, "full_name": self.full_name.data, "email": self.email.data,
                "mobile": self.mobile.data, "password": self.password.data,
                "department_id": self.department_id.data or None, "superior_id": self.superior_id.data or None,
                "role_ids": list(self.role_ids.data or [])}


class EditUserForm(UserForm):
    """Editing keeps the username; the password is reset separately."""

    username = None  # type: ignore[assignment]
    password = None  # type: ignore[assignment]

    def values(self) -> dict[str, Any]:
        return {"full_name": self.full_name.data, "email": self.email.data, "mobile": self.mobile.data,
                "department_id": self.department_id.data or None, "superior_id": self.superior_id.data or None,
                "role_ids": list(self.role_ids.data or [])}


class PasswordForm(FlaskForm):
    """A new password, typed twice."""

    password = PasswordField(_("新密码"), validators=[DataRequired(_("请填写密码")),
                                                     Length(min=8, max=200, message=_("密码至少8位"))])
    confirm = PasswordField(_("确认新密码"), validators=[DataRequired(_("请再次输入密码")),
                                                        EqualTo("password", _("两次输入的密码不一致"))])


class RoleForm(FlaskForm):
    """角色: a fixed code and a display name."""

    code = StringField(_("角色代码"), validators=[
        DataRequired(_("请填写角色代码")),
        Regexp(r"^[a-z][a-z0-9_]{1,39}$", message=_("代码为2到40位小写字母、数字或下划线，以字母开头"))])
    name = StringField(_("角色名称"), validators=[DataRequired(_("请填写角色名称")), Length(max=40)])


class DepartmentForm(FlaskForm):
    """部门: name, parent department and head."""

    name = StringField(_("部门名称"), validators=[DataRequired(_("请填写部门名称")), Length(max=80)])
    parent_id = SelectField(_("上级部门"), coerce=_optional_id, validate_choice=False)
    head_id = SelectField(_("负责人"), coerce=_optional_id, validate_choice=False)

    def values(self) -> dict[str, Any]:
        return {"name": self.name.data, "parent_id": self.parent_id.data or None, "head_id": self.head_id.data or None}


class DictionaryEntryForm(FlaskForm):
    """数据字典项: item, value, order; regions may name a parent."""

    item = StringField(_("字典项"), validators=[DataRequired(_("请填写字典项")), Length(max=60)])
    value = StringField(_("值"), validators=[Optional(), Length(max=120)])
    label_en = StringField(_("英文名称"), validators=[Optional(), Length(max=120)])
    sort = IntegerField(_("排序"), default=0, validators=[
        Optional(), NumberRange(-9999, 9999, _("排序应为 -9999 到 9999 之间的整数"))])
    parent_id = SelectField(_("上级地区"), coerce=_optional_id, validate_choice=False)

    def values(self) -> dict[str, Any]:
        return {"item": self.item.data, "value": self.value.data, "label_en": self.label_en.data,
                "sort": self.sort.data or 0, "parent_id": self.parent_id.data or None}
