"""The Chinese working calendar: statutory holidays and adjusted working days (调休) from `chinese-calendar`.

Used by diagram expressions (`workdays_after(now(), 2)` in a timer) and by the services that count
deadlines in working days. Days are read in the company's time zone (BPM_CRM_TIMEZONE, Asia/Shanghai by
default). For years the package does not cover yet, Monday to Friday are working days.
"""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

ZONE = ZoneInfo(os.environ.get("BPM_CRM_TIMEZONE", "Asia/Shanghai"))
MAX_DAYS = 3660  # about ten years of working days, in either direction


def is_workday(day: date) -> bool:
    """Whether people work on `day`: weekdays that are no holiday, and weekend days made working days."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the calendar package does not cover yet
        return day.weekday() < 5


def add_workdays(moment: datetime, days: int) -> datetime:
    """The same local time `days` working days later (earlier when negative); `moment` must be aware."""
    if abs(days) > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} working days")
    local = moment.astimezone(ZONE)
    step = timedelta(days=1 if days >= 0 else -1)
    counted, day = 0, local.date()
    while counted < abs(days):
        day += step
        if is_workday(day):
            counted += 1
    result = datetime.combine(day, local.timetz())
    return result.astimezone(moment.tzinfo)


def workdays_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (negative when end is earlier)."""
    if abs((end - start).days) > MAX_DAYS * 2:
        raise ValueError("the dates are too far apart")
    sign = 1 if end >= start else -1
    day, count = start, 0
    while day != end:
        day += timedelta(days=sign)
        count += sign if is_workday(day) else 0
    return count
