"""Free-slot search and booking checks over providers' weekly hours and busy times."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from serving.scheduling.calendar import ClinicCalendar
from serving.scheduling.errors import (
    ClinicClosed,
    MalformedTime,
    OutsideWorkingHours,
    TooFarAhead,
    TooSoon,
)


@dataclass(frozen=True)
class WeeklyWindow:
    """A provider's working window on one weekday (Monday = 0), in clinic-local time."""

    weekday: int
    starts_at: time
    ends_at: time


@dataclass(frozen=True)
class BookingRules:
    calendar: ClinicCalendar
    step: timedelta
    min_notice: timedelta
    horizon: timedelta


def _local_windows(
    day: date, windows: Iterable[WeeklyWindow], calendar: ClinicCalendar
) -> Iterator[tuple[datetime, datetime]]:
    for window in windows:
        if window.weekday == day.weekday():
            yield (
                datetime.combine(day, window.starts_at, calendar.tz),
                datetime.combine(day, window.ends_at, calendar.tz),
            )


def _overlaps(start: datetime, end: datetime, busy: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in busy)


def free_starts(
    *,
    day: date,
    windows: Sequence[WeeklyWindow],
    busy: Sequence[tuple[datetime, datetime]],
    duration: timedelta,
    rules: BookingRules,
    now: datetime,
) -> Iterator[datetime]:
    """Start times on a local `day` at which a visit of `duration` fits: inside a working window,
    clear of closures and busy times, after the minimum notice and within the horizon."""
    earliest = now + rules.min_notice
    latest = now + rules.horizon
    for window_start, window_end in _local_windows(day, windows, rules.calendar):
        start = window_start
        while start + duration <= window_end:
            end = start + duration
            if (
                earliest <= start <= latest
                and not _overlaps(start, end, busy)
                and rules.calendar.closure_reason(start, end) is None
            ):
                yield start
            start += rules.step


def check_bookable(
    *,
    starts_at: datetime,
    duration: timedelta,
    windows: Sequence[WeeklyWindow],
    rules: BookingRules,
    now: datetime,
) -> datetime:
    """The visit's end time if [starts_at, +duration) may be booked by the clinic's rules.

    Busy times are not checked here: the database refuses overlaps at commit. A refusal is a
    `serving.scheduling.errors.BookingRefused`.
    """
    if starts_at.tzinfo is None:
        raise MalformedTime("the appointment time must include a time zone")
    ends_at = starts_at + duration
    if starts_at < now + rules.min_notice:
        raise TooSoon(
            "that time has passed or is too soon: appointments need at least "
            f"{int(rules.min_notice.total_seconds() // 60)} minutes' notice"
        )
    if starts_at > now + rules.horizon:
        raise TooFarAhead(f"appointments can be booked at most {rules.horizon.days} days ahead")
    reason = rules.calendar.closure_reason(starts_at, ends_at)
    if reason:
        raise ClinicClosed(f"the clinic is closed at that time ({reason})")
    local_start = starts_at.astimezone(rules.calendar.tz)
    if not any(
        w_start <= starts_at and ends_at <= w_end
        for w_start, w_end in _local_windows(local_start.date(), windows, rules.calendar)
    ):
        raise OutsideWorkingHours(
            "that time is outside the provider's working hours; ask for available slots"
        )
    midnight = datetime.combine(local_start.date(), time.min, rules.calendar.tz)
    if (local_start - midnight) % rules.step:
        raise MalformedTime(
            f"appointments start on {int(rules.step.total_seconds() // 60)}-minute steps"
        )
    return ends_at


def booking_rules(
    *,
    calendar: ClinicCalendar,
    step_minutes: int,
    min_notice_minutes: int,
    horizon_days: int,
) -> BookingRules:
    return BookingRules(
        calendar=calendar,
        step=timedelta(minutes=step_minutes),
        min_notice=timedelta(minutes=min_notice_minutes),
        horizon=timedelta(days=horizon_days),
    )
