"""Quote forms: the header (customer, contact, name, date) and one line; the service re-checks everything."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from bpm_crm.i18n import _
from bpm_crm.input_rules import coerce_id


def _clean(form: FlaskForm) -> dict[str, Any]:
    return {
        name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
        for name, field in form._fields.items()
        if name != "csrf_token"
    }


class QuoteForm(FlaskForm):
    """报价 header: number, status and total are kept by the system."""

    customer_id = SelectField(_("客户"), coerce=coerce_id, validate_choice=False,
                              validators=[InputRequired(_("请选择客户"))])
    contact_id = SelectField(_("联系人"), coerce=coerce_id, validate_choice=False, validators=[Optional()])
    name = StringField(_("报价名称"), validators=[DataRequired(_("请填写报价名称")), Length(max=120)])
    quote_date = DateField(_("报价日期"), validators=[InputRequired(_("请填写报价日期"))])
    remarks = TextAreaField(_("备注"), validators=[Optional(), Length(max=4000)])

    def values(self) -> dict[str, Any]:
        """The cleaned values, empty optional strings as None."""
        return _clean(self)


class QuoteLineForm(FlaskForm):
    """One line: a catalog product or a free-text name, quantity, unit price and discount (percent off)."""

    product_id = SelectField(_("产品"), coerce=coerce_id, validate_choice=False, validators=[Optional()])
    product_name = StringField(_("产品名称"), validators=[Optional(), Length(max=120)])
    quantity = IntegerField(_("数量"), validators=[InputRequired(_("请填写数量")),
                                                  NumberRange(1, 1_000_000_000, _("数量应为正整数"))])
    unit_price = DecimalField(_("单价 (元)"), places=2, validators=[
        InputRequired(_("请填写单价")), NumberRange(0, 999_999_999_999, _("单价应为不小于 0 的金额，最多两位小数"))])
    discount_pct = DecimalField(_("折扣 (%)"), places=2, default=0, validators=[
        Optional(), NumberRange(0, 100, _("折扣应在 0 到 100 之间"))])

    def validate_product_name(self, field: StringField) -> None:
        if not (field.data or "").strip() and self.product_id.data is None:
            raise ValueError(str(_("请选择产品或填写产品名称")))

    def values(self) -> dict[str, Any]:
        return _clean(self)
