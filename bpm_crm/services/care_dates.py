"""Dates of care occasions: birthdays and annual dates in the solar or the lunar calendar (农历).

The lunar calendar comes from the `lunar-python` package, which computes it astronomically. A lunar day 30
in a year whose month has only 29 days falls on the 29th (除夕 is the last day of the 12th month either way);
a solar 29 February falls on the 28th in other years. A leap month (闰月) is never an occasion: birthdays and
festivals are kept in the ordinary month of that number, as they are celebrated.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from lunar_python import Lunar, LunarMonth, Solar

SOLAR, LUNAR = "solar", "lunar"
FIRST_YEAR, LAST_YEAR = 1901, 2099  # the years care rules look at
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def parse_month_day(text: str | None) -> tuple[int, int] | None:
    """(month, day) of "MM-DD", or None when the text is not one (months 1–12, days 1–30 or 31)."""
    match = _MONTH_DAY.match((text or "").strip())
    if match is None:
        return None
    month, day = int(match.group(1)), int(match.group(2))
    return (month, day) if 1 <= month <= 12 and 1 <= day <= 31 else None


def valid_day(calendar: str, month: int, day: int) -> bool:
    """Whether (month, day) can be an annual date of the calendar (lunar months have at most 30 days)."""
    if not 1 <= month <= 12:
        return False
    if calendar == LUNAR:
        return 1 <= day <= 30
    return 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def solar_in(year: int, month: int, day: int) -> date:
    """The solar (month, day) of a year; 29 February falls on the 28th in a common year."""
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def lunar_in(year: int, month: int, day: int) -> date | None:
    """The solar date of lunar (month, day) in lunar year `year`; None outside the tables."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None
    days = LunarMonth.fromYm(year, month).getDayCount()  # a short (29-day) month has no 30th
    solar = Lunar.fromYmd(year, month, min(day, days)).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def lunar_of(day: date) -> tuple[int, int, bool]:
    """The lunar (month, day, in a leap month) of a solar date."""
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    return abs(lunar.getMonth()), lunar.getDay(), lunar.getMonth() < 0


def occurrences(calendar: str, month: int, day: int, start: date, end: date) -> list[date]:
    """Every solar date in [start, end] on which the annual (month, day) of `calendar` falls."""
    found = []
    # A lunar year begins in January or February: its last months reach into the next solar year.
    years = range(start.year - 1, end.year + 1) if calendar == LUNAR else range(start.year, end.year + 1)
    for year in years:
        moment = lunar_in(year, month, day) if calendar == LUNAR else solar_in(year, month, day)
        if moment is not None and start <= moment <= end:
            found.append(moment)
    return sorted(found)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def lunar_month_days(start: date, end: date) -> dict[str, date]:
    """The lunar "MM-DD" of every day in [start, end] (leap-month days left out), to find lunar birthdays."""
    found: dict[str, date] = {}
    for day in days_between(start, end):
        month, lunar_day, leap = lunar_of(day)
        if leap:
            continue
        found.setdefault(f"{month:02d}-{lunar_day:02d}", day)
        # A short month's 29th also stands for the 30th birthdays of that month.
        if lunar_day == 29 and lunar_of(day + timedelta(days=1))[1] == 1:
            found.setdefault(f"{month:02d}-30", day)
    return found


def solar_month_days(start: date, end: date) -> dict[str, date]:
    """The solar "MM-DD" of every day in [start, end]; 28 February of a common year also stands for the 29th."""
    found: dict[str, date] = {}
    for day in days_between(start, end):
        found[f"{day.month:02d}-{day.day:02d}"] = day
        if day.month == 2 and day.day == 28 and not _leap(day.year):
            found["02-29"] = day
    return found


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
