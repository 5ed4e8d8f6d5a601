"""Working time on the Chinese calendar: SLA deadlines across weekends, statutory holidays and 调休 days."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bpm_crm.engine import sandbox, workdays
from bpm_crm.engine.workdays import ZONE, WorkingHours

HOURS = WorkingHours.parse("09:00-12:00,13:00-18:00")  # eight working hours a day


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


@pytest.mark.parametrize(("start", "hours", "due"), [
    # The Friday before 国庆 2025: Saturday is off, Sunday 28 September is a 调休 working day.
    ("2025-09-26T09:00", 16, "2025-09-28T18:00"),
    ("2025-09-26T14:00", 16, "2025-09-29T14:00"),
    # Started the day before the holiday: 1–8 October are off, work resumes on Thursday the 9th.
    ("2025-09-30T14:00", 16, "2025-10-10T14:00"),
    ("2025-09-30T17:00", 2, "2025-10-09T10:00"),
    # Over lunch, from before opening, from a holiday, and an exact day's end.
    ("2025-09-26T11:00", 2, "2025-09-26T14:00"),
    ("2025-09-26T07:30", 3, "2025-09-26T12:00"),
    ("2025-10-03T10:00", 1, "2025-10-09T10:00"),
    ("2025-09-29T09:00", 8, "2025-09-29T18:00"),
    # 2026: Mid-autumn (25 September) is off and Sunday 20 September is worked for 国庆.
    ("2026-09-18T14:00", 16, "2026-09-21T14:00"),
    ("2026-09-24T14:00", 8, "2026-09-28T14:00"),
])
def test_a_duration_in_working_hours_lands_on_the_right_day(start, hours, due):
    assert workdays.add_working_time(local(start), timedelta(hours=hours), HOURS) == local(due)
    assert workdays.working_seconds_between(local(start), local(due), HOURS) == hours * 3600


def test_going_back_from_a_due_time_counts_working_time_too():
    # A reminder two working hours before a deadline at 10:00 on the first day after the holiday.
    assert workdays.add_working_time(local("2025-10-09T10:00"), timedelta(hours=-2), HOURS) == local(
        "2025-09-30T17:00")
    assert workdays.add_working_time(local("2025-09-28T18:00"), timedelta(hours=-16), HOURS) == local(
        "2025-09-26T09:00")


def test_an_aware_moment_keeps_its_zone_and_zero_is_the_moment_itself():
    utc = local("2025-09-26T09:00").astimezone(UTC)
    assert workdays.add_working_time(utc, timedelta(0), HOURS) == utc
    due = workdays.add_working_time(utc, timedelta(hours=16), HOURS)
    assert due.tzinfo is UTC and due == local("2025-09-28T18:00")


@pytest.mark.parametrize("text", ["", "9-18", "09:00-08:00", "09:00-12:00,11:00-13:00", "25:00-26:00"])
def test_bad_working_hours_are_refused(text):
    with pytest.raises(ValueError):
        WorkingHours.parse(text)


def test_working_time_is_bounded():
    with pytest.raises(ValueError):
        workdays.add_working_time(local("2025-09-26T09:00"), timedelta(days=365 * 20), HOURS)
    with pytest.raises(ValueError):
        workdays.working_seconds_between(local("2025-01-01T00:00"), local("2050-01-01T00:00"), HOURS)
    assert workdays.working_seconds_between(local("2025-10-02T00:00"), local("2025-10-01T00:00"), HOURS) == 0


def test_diagrams_count_working_hours_with_workhours_after(monkeypatch):
    monkeypatch.delenv("BPM_CRM_WORKING_HOURS", raising=False)
    due = sandbox.evaluate('workhours_after("2025-09-26T09:00:00+08:00", 16)', {}, timeout=5)
    assert due == "2025-09-28T18:00:00+08:00"
    with pytest.raises(sandbox.SandboxError):
        sandbox.evaluate('workhours_after("2025-09-26T09:00:00+08:00", 10 ** 9)', {}, timeout=5)
