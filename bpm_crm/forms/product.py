"""Forms of the built-in sales system: product, warehouse, stock quantity; shared by pages and API."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


def _cleaned(form: FlaskForm) -> dict[str, Any]:
    return {name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
            for name, field in form._fields.items() if name != "csrf_token"}


class ProductForm(FlaskForm):
    """产品: code unique (checked by the service), name required, price ≥ 0."""

    code = StringField(_("产品编码"), validators=[DataRequired(_("请填写产品编码")), Length(max=40)])
    name = StringField(_("产品名称"), validators=[DataRequired(_("请填写产品名称")), Length(max=120)])
    model = StringField(_("型号"), validators=[Optional(), Length(max=60)])
    batch = StringField(_("批次"), validators=[Optional(), Length(max=40)])
    unit = StringField(_("单位"), validators=[Optional(), Length(max=10)])
    price = DecimalField(_("单价（元）"), places=2, validators=[
        InputRequired(_("请填写单价")), NumberRange(min=0, max=99_999_999_999, message=_("单价应在 0 到 999 亿之间"))])
    remarks = TextAreaField(_("备注"), validators=[Optional(), Length(max=2000)])

    def values(self) -> dict[str, Any]:
        return _cleaned(self)


class WarehouseForm(FlaskForm):
    """仓库: a unique name and an address."""

    name = StringField(_("仓库名称"), validators=[DataRequired(_("请填写仓库名称")), Length(max=60)])
    address = StringField(_("地址"), validators=[Optional(), Length(max=200)])

    def values(self) -> dict[str, Any]:
        return _cleaned(self)


class StockForm(FlaskForm):
    """The stock of a product in one warehouse."""

    warehouse_id = SelectField(_("仓库"), coerce=coerce_id, validators=[InputRequired(_("请选择仓库"))])
    quantity = IntegerField(_("库存数量"), validators=[
        InputRequired(_("请填写库存数量")), NumberRange(min=0, max=2_000_000_000, message=_("库存数量不能为负数"))])
