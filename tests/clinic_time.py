"""Helpers for tests that need clinic-local dates relative to today."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

CLINIC_TZ = ZoneInfo("Asia/Jerusalem")
SUNDAY, MONDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY = 6, 0, 2, 3, 4, 5


def today() -> date:
    return datetime.now(CLINIC_TZ).date()


def today_from(hour: int) -> Callable[[], datetime]:
    """A clock that reads `hour`:00 today (clinic time) now and runs on from there. The times a
    chat offers start from "now": an app on this clock offers the same hours of today and the
    days after whatever the hour the tests run at (a test that passed in the morning and failed
    after lunch depended on the wall clock)."""
    offset = datetime.combine(today(), time(hour), CLINIC_TZ) - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def next_weekday(weekday: int, *, at_least_days: int = 2) -> date:
    day = today() + timedelta(days=at_least_days)
    while day.weekday() != weekday or _holiday_near(day):
        day += timedelta(days=1)
    return day


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CLINIC_TZ)


def next_public_holiday_on(weekdays: set[int]) -> tuple[date, str]:
    """The next Israeli public holiday falling on one of `weekdays`, at least 2 days away."""
    calendar = holidays.country_holidays("IL")
    day = today() + timedelta(days=2)
    for _ in range(800):
        name = calendar.get(day)
        if name and day.weekday() in weekdays and not calendar.get(day - timedelta(days=1)):
            return day, name
        day += timedelta(days=1)
    raise AssertionError("no public holiday found in 800 days")


def _holiday_near(day: date) -> bool:
    calendar = holidays.country_holidays("IL")
    return bool(calendar.get(day) or calendar.get(day + timedelta(days=1)))
