"""Amounts of money as a Chinese business document writes them: figures and capitals (人民币大写)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Up to 千亿 (twelve digits before the point): the largest amount a quote total can hold.
LIMIT = Decimal("1000000000000")
DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿")


def to_cents(amount: Decimal | int | str) -> Decimal:
    """The amount as a Decimal rounded half up to the cent; ValueError when it is not a finite number."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)  # -0.004 is written 0.00, not -0.00


def figures(amount: Decimal | int | str) -> str:
    """"1,010.05": the amount to the cent with thousands separators."""
    return f"{to_cents(amount):,.2f}"


def capitals(amount: Decimal | int | str) -> str:
    """The amount in Chinese capitals, e.g. 1010.05 → 壹仟零壹拾元零伍分; rounded half up to the cent.

    The rules of the People's Bank for cheques and vouchers: a 零 for every run of zeros between
    two digits (so 100,001,000 cannot be misread as 1.1 亿), a 零 before 分 when 角 is zero, 整 after
    元 and never after 分, 负 before a negative amount. Amounts of 1 万亿 and more raise ValueError.
    """
    cents = to_cents(amount)
    if abs(cents) >= LIMIT:
        raise ValueError(f"amount out of range (under 1 万亿): {amount!r}")
    whole, fraction = divmod(int(abs(cents) * 100), 100)
    jiao, fen = divmod(fraction, 10)
    if whole == 0 and fraction == 0:
        return "零元整"
    words = _integer(whole) + "元" if whole else ""
    if jiao:
        words += DIGITS[jiao] + "角"
    elif fen and whole:
        words += "零"
    if fen:
        words += DIGITS[fen] + "分"
    elif not jiao:
        words += "整"
    return ("负" if cents < 0 else "") + words


def _integer(number: int) -> str:
    """A positive whole number in capitals with its place units: 10000001 → 壹仟万零壹."""
    digits = str(number)
    words: list[str] = []
    zero_pending = group_used = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        place, group = position % 4, position // 4
        if char == "0":
            zero_pending = bool(words)
        else:
            if zero_pending:
                words.append("零")
                zero_pending = False
            words.append(DIGITS[int(char)] + PLACES[place])
            group_used = True
        if place == 0:
            if group_used and group:
                words.append(GROUPS[group])
            group_used = False
    return "".join(words)
