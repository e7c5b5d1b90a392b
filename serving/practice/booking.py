"""The clinic's booking rules as every practice backend applies them: the free slots of a day
range and the refusal of a time, raised as the practice boundary's errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta

from serving.practice import models as rec
from serving.practice.errors import (
    ClinicClosed,
    InvalidRequest,
    OutsideWorkingHours,
    PracticeError,
    SlotUnavailable,
    TimeInPast,
)
from serving.scheduling import errors as booking
from serving.scheduling.request import SlotRequest
from serving.scheduling.slots import BookingRules, WeeklyWindow, check_bookable, free_starts

Busy = Sequence[tuple[datetime, datetime]]
WindowsOn = Callable[[date], Sequence[WeeklyWindow]]
"""A provider's working windows on one clinic-local day."""

_REFUSALS: dict[type[booking.BookingRefused], type[PracticeError]] = {
    booking.MalformedTime: InvalidRequest,
    booking.TooSoon: TimeInPast,
    booking.TooFarAhead: SlotUnavailable,
    booking.ClinicClosed: ClinicClosed,
    booking.OutsideWorkingHours: OutsideWorkingHours,
}
"""Each refusal of the clinic's booking rules as the practice boundary's error."""

TAKEN = "that time is already booked; please choose another"
PATIENT_BUSY = "the patient already has an appointment at that time"
JUST_TAKEN = "that time was just taken; please choose another"


def bookable_until(
    *,
    starts_at: datetime,
    duration: timedelta,
    windows: Sequence[WeeklyWindow],
    rules: BookingRules,
    now: datetime,
) -> datetime:
    """`check_bookable`, refusing with the practice boundary's error and the same message."""
    try:
        return check_bookable(
            starts_at=starts_at, duration=duration, windows=windows, rules=rules, now=now
        )
    except booking.BookingRefused as refused:
        raise _REFUSALS[type(refused)](str(refused)) from None


def with_closures(rules: BookingRules, closures: Mapping[date, str]) -> BookingRules:
    """The clinic's rules with its own closed days (reason by clinic-local date) added."""
    calendar = dataclasses.replace(rules.calendar, closures=dict(closures))
    return dataclasses.replace(rules, calendar=calendar)


def most_telling(refusals: Sequence[SlotUnavailable]) -> SlotUnavailable:
    """Of the reasons each provider could not take a time, the one to tell: taken before
    closed before outside working hours."""
    for kind in (SlotUnavailable, ClinicClosed, OutsideWorkingHours):
        for refusal in refusals:
            if type(refusal) is kind:
                return refusal
    return SlotUnavailable("no provider can take that appointment")


def overlaps(start: datetime, end: datetime, busy: Busy) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in busy)


def free_slots(
    *,
    treatment_code: str,
    duration: timedelta,
    providers: Sequence[tuple[rec.Provider, WindowsOn]],
    busy: Mapping[int, Busy],
    first_day: date,
    last_day: date,
    rules: BookingRules,
    now: datetime,
    limit: int,
    matching: SlotRequest | None,
) -> list[rec.Slot]:
    """Free start times day by day, earliest first (then by provider), at most `limit`."""
    slots: list[rec.Slot] = []
    day = first_day
    while day <= last_day and len(slots) < limit:
        for_day = [
            rec.Slot(
                provider_id=provider.id,
                provider_name=provider.name,
                provider_name_he=provider.name_he,
                treatment_code=treatment_code,
                starts_at=start,
                ends_at=start + duration,
            )
            for provider, windows_on in providers
            for start in free_starts(
                day=day,
                windows=windows_on(day),
                busy=busy.get(provider.id, []),
                duration=duration,
                rules=rules,
                now=now,
            )
            if matching is None or not matching.unmet(start.astimezone(rules.calendar.tz))
        ]
        slots.extend(sorted(for_day, key=lambda s: (s.starts_at, s.provider_id)))
        day += timedelta(days=1)
    return slots[:limit]
