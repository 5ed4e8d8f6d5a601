"""The Chinese working calendar: statutory holidays and adjusted working days (调休) from `chinese-calendar`.

Used by diagram expressions (`workdays_after(now(), 2)` in a timer, `workhours_after(now(), 16)`) and by the
services that count deadlines in working days or working hours. The working hours of a day are configuration
(BPM_CRM_WORKING_HOURS, read by the application, never here): the services pass them to each call, and a run of
diagram code is handed them (`using_hours`), also in its sandbox worker. Days are read in the company's time
zone (BPM_CRM_TIMEZONE, Asia/Shanghai by default). For years the package does not cover yet, Monday to Friday
are working days.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
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


# Working hours: the parts of a working day counted by durations "in working time" (SLA deadlines).
DEFAULT_HOURS = "09:00-12:00,13:00-18:00"
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WorkingHours:
    """The working spans of a working day, as seconds from midnight, sorted and apart."""

    spans: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """Read "09:00-12:00,13:00-18:00"; ValueError names what is wrong."""
        spans = []
        for part in (text or "").split(","):
            match = _SPAN.match(part)
            if match is None:
                raise ValueError(f"'{part.strip()[:20]}' is not a span like 09:00-12:00")
            h1, m1, h2, m2 = (int(group) for group in match.groups())
            if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
                raise ValueError(f"'{part.strip()}' is not a time of day")
            start, end = (h1 * 60 + m1) * 60, (h2 * 60 + m2) * 60
            if not 0 <= start < end <= 24 * 3600:
                raise ValueError(f"'{part.strip()}' must end after it starts, within the day")
            spans.append((start, end))
        spans.sort()
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise ValueError("working spans overlap")
        return cls(tuple(spans))

    @property
    def seconds_per_day(self) -> int:
        return sum(end - start for start, end in self.spans)


_DEFAULT = WorkingHours.parse(DEFAULT_HOURS)
_handed: ContextVar[WorkingHours | None] = ContextVar("working_hours", default=None)


def hours_in_effect() -> WorkingHours:
    """The working hours the running diagram code was handed (`using_hours`), else 09:00-12:00,13:00-18:00."""
    return _handed.get() or _DEFAULT


@contextmanager
def using_hours(hours: WorkingHours | None) -> Iterator[None]:
    """Run the block with these working hours in effect (None: the default)."""
    token = _handed.set(hours)
    try:
        yield
    finally:
        _handed.reset(token)


def _seconds_of_day(local: datetime) -> int:
    return local.hour * 3600 + local.minute * 60 + local.second


def add_working_time(moment: datetime, delta: timedelta, hours: WorkingHours) -> datetime:
    """The moment `delta` of working time after `moment` (before it when negative), on the Chinese calendar.

    Only working days count, and of them only the working spans: 16 hours started on a Friday at 09:00
    with 8-hour days end at 18:00 on the next working day (a 调休 Sunday, when there is one). A start
    outside the working spans counts from the next (or, backwards, the previous) working moment.
    """
    remaining = int(abs(delta.total_seconds()))
    if remaining == 0:
        return moment
    if remaining > MAX_DAYS * 24 * 3600:
        raise ValueError(f"at most {MAX_DAYS} days of working time")
    forward = delta.total_seconds() > 0
    local = moment.astimezone(ZONE)
    day, position = local.date(), _seconds_of_day(local)
    for _ in range(MAX_DAYS * 2):
        if is_workday(day):
            for start, end in (hours.spans if forward else reversed(hours.spans)):
                if forward:
                    begin = max(start, position)
                    available = end - begin
                else:
                    finish = min(end, position)
                    available = finish - start
                if available <= 0:
                    continue
                if remaining <= available:
                    seconds = begin + remaining if forward else finish - remaining
                    result = datetime.combine(day, datetime.min.time(), tzinfo=ZONE) + timedelta(seconds=seconds)
                    return result.astimezone(moment.tzinfo)
                remaining -= available
        day += timedelta(days=1 if forward else -1)
        position = 0 if forward else 24 * 3600
    raise ValueError("the working time does not fit in the calendar")


def working_seconds_between(start: datetime, end: datetime, hours: WorkingHours) -> int:
    """Working time from `start` to `end` in seconds (0 when end is not later); both aware."""
    if end <= start:
        return 0
    first, last = start.astimezone(ZONE), end.astimezone(ZONE)
    if (last.date() - first.date()).days > MAX_DAYS * 2:
        raise ValueError("the moments are too far apart")
    total, day = 0, first.date()
    while day <= last.date():
        if is_workday(day):
            low = _seconds_of_day(first) if day == first.date() else 0
            high = _seconds_of_day(last) if day == last.date() else 24 * 3600
            total += sum(max(0, min(e, high) - max(s, low)) for s, e in hours.spans)
        day += timedelta(days=1)
    return total
