"""Amounts in Chinese capitals (人民币大写) and in figures, against the People's Bank's written examples."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bpm_crm.services import money


@pytest.mark.parametrize(("amount", "words"), [
    # The examples this feature was specified with.
    ("1010.05", "壹仟零壹拾元零伍分"),
    ("100000.00", "壹拾万元整"),
    ("0.5", "伍角"),
    ("10000001.10", "壹仟万零壹元壹角"),
    # The People's Bank's rules for cheques and vouchers, with its own examples.
    ("1409.50", "壹仟肆佰零玖元伍角"),        # a zero between digits is written 零; nothing after 角
    ("6007.14", "陆仟零柒元壹角肆分"),        # several zeros in a row: one 零
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),    # 元位 zero before 角: no 零 needed
    ("107000.53", "壹拾万零柒仟元伍角叁分"),  # 万位 zero: one 零, once
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),  # 角 zero before 分: 零
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("1004.56", "壹仟零肆元伍角陆分"),
    ("16.00", "壹拾陆元整"),                  # 壹拾, never a bare 拾
    # Whole groups of zeros between digits keep their 零, so no amount reads as another.
    ("100001000", "壹亿零壹仟元整"),
    ("10001000", "壹仟万零壹仟元整"),
    ("1000010000", "壹拾亿零壹万元整"),
    ("500010000000", "伍仟亿零壹仟万元整"),
    ("100000001", "壹亿零壹元整"),
    ("1010000", "壹佰零壹万元整"),
    ("1010101010.10", "壹拾亿零壹仟零壹拾万零壹仟零壹拾元壹角"),  # a group ending in zero: 零 too
    # Only 角 or 分, round figures, the largest amount.
    ("0.05", "伍分"),
    ("0.90", "玖角"),
    ("1000.01", "壹仟元零壹分"),
    ("20.30", "贰拾元叁角"),
    ("10", "壹拾元整"),
    ("100000000000", "壹仟亿元整"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
])
def test_capitals_follow_the_rules_for_cheques_and_vouchers(amount, words):
    assert money.capitals(Decimal(amount)) == words
    assert money.capitals(amount) == words


@pytest.mark.parametrize(("amount", "words"), [
    (0, "零元整"),
    ("0.00", "零元整"),
    ("-0.00", "零元整"),
    ("-0.004", "零元整"),  # rounds to nothing: no sign
    ("-12.30", "负壹拾贰元叁角"),
    ("-1010.05", "负壹仟零壹拾元零伍分"),
    (7, "柒元整"),
])
def test_zero_and_negative_amounts(amount, words):
    assert money.capitals(amount) == words


@pytest.mark.parametrize(("amount", "words"), [
    ("1.005", "壹元零壹分"),   # half up, not to even
    ("0.004", "零元整"),
    ("0.005", "壹分"),
    ("2.675", "贰元陆角捌分"),
    ("999999999999.994", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
])
def test_amounts_are_rounded_half_up_to_the_cent(amount, words):
    assert money.capitals(amount) == words


@pytest.mark.parametrize("amount", ["1000000000000", "-1000000000000", "999999999999.995", "abc", "NaN",
                                    "Infinity", ""])
def test_amounts_out_of_range_or_not_numbers_are_refused(amount):
    with pytest.raises(ValueError):
        money.capitals(amount)


@pytest.mark.parametrize(("amount", "text"), [
    ("1010.05", "1,010.05"),
    (0, "0.00"),
    ("-0.001", "0.00"),
    ("-1234.5", "-1,234.50"),
    ("999999999999.99", "999,999,999,999.99"),
    ("2.675", "2.68"),
])
def test_figures_have_cents_and_thousands_separators(amount, text):
    assert money.figures(amount) == text
