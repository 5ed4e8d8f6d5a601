"""The quote (报价) header and line: field rules read by the page forms, the service and the API schema."""
from __future__ import annotations

from decimal import Decimal

from bpm_crm.forms.record_form import record_form
from bpm_crm.forms.rules import N_, day, decimal, integer, record, record_id, text
from bpm_crm.i18n import _

MAX_PRICE = Decimal("999999999999.99")
MAX_QUANTITY = 1_000_000_000

QUOTE = record(
    "quote",
    record_id("customer_id", _("客户"), required=N_("请选择客户"), description="A customer you may update"),
    record_id("contact_id", _("联系人"), description="A contact of that customer"),
    text("name", _("报价名称"), 120, required=N_("请填写报价名称")),
    day("quote_date", _("报价日期"), required=N_("请填写报价日期")),
    text("remarks", _("备注"), 4000, multiline=True),
)
# Whether a product or a name is given, and the line's amount, are the service's (cross-field) rules.
QUOTE_LINE = record(
    "quote_line",
    record_id("product_id", _("产品"), description="A catalog product; product_name defaults to its name"),
    text("product_name", _("产品名称"), 120),
    integer("quantity", _("数量"), 1, MAX_QUANTITY, N_("数量应为正整数"), required=N_("请填写数量")),
    decimal("unit_price", _("单价 (元)"), Decimal(0), MAX_PRICE, N_("单价应为不小于 0 的金额，最多两位小数"),
            not_number=N_("单价应为数字"), required=N_("请填写单价"), exact_places=True),
    decimal("discount_pct", _("折扣 (%)"), Decimal(0), Decimal(100), N_("折扣应在 0 到 100 之间"),
            not_number=N_("折扣应为数字"), exact_places=True, default=Decimal(0), description="Percent off"),
)


class QuoteForm(record_form(QUOTE)):  # type: ignore[misc]
    """报价 header: number, status and total are kept by the system."""


class QuoteLineForm(record_form(QUOTE_LINE)):  # type: ignore[misc]
    """One line: a catalog product or a free-text name, quantity, unit price and discount (percent off)."""
