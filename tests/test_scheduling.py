"""Booking rules below the practice boundary, and the built-in backend's own guarantee: its
database refuses overlapping appointments whoever writes them. What every backend does with
bookings is tests/test_practice_contract.py."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from serving.db import models as db
from serving.db.engine import Database
from serving.practice.errors import PracticeError
from serving.scheduling.calendar import ClinicCalendar
from serving.scheduling.errors import BookingRefused, MalformedTime, TooFarAhead, TooSoon
from serving.scheduling.errors import ClinicClosed as SchedulingClinicClosed
from serving.scheduling.errors import OutsideWorkingHours as SchedulingOutsideHours
from serving.scheduling.slots import WeeklyWindow, booking_rules, check_bookable
from tests.clinic_time import MONDAY, local, next_weekday

# The demo clinic books its upcoming visits 3 to 19 days after loading (demo_clinic.json,
# `days_ahead`): days used as a free schedule must lie beyond them, whatever today is.
DEMO_FREE_AFTER_DAYS = 28

_RULES_TZ = ZoneInfo("Asia/Jerusalem")


@pytest.mark.parametrize("who", ["provider", "patient"])
async def test_database_itself_refuses_overlaps(database: Database, who: str) -> None:
    """Bypass the backend: the constraint/trigger must hold for any writer."""
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    base = {"treatment_type_id": 2, "status": "scheduled"}
    first = {"patient_id": 1, "provider_id": 1}
    second = (
        {"patient_id": 2, "provider_id": 1}
        if who == "provider"
        else {"patient_id": 1, "provider_id": 2}
    )
    async with database.transaction() as session:
        session.add(
            db.Appointment(**base, **first, starts_at=local(monday, 9), ends_at=local(monday, 10))
        )
    with pytest.raises(IntegrityError, match=f"no_{who}_overlap"):
        async with database.transaction() as session:
            session.add(
                db.Appointment(
                    **base, **second, starts_at=local(monday, 9, 30), ends_at=local(monday, 10, 30)
                )
            )
    async with database.transaction() as session:  # adjacent visits are fine
        session.add(
            db.Appointment(
                **base, **second, starts_at=local(monday, 10), ends_at=local(monday, 10, 30)
            )
        )
        session.add(
            db.Appointment(
                **{**base, "status": "cancelled"},
                **second,
                starts_at=local(monday, 9),
                ends_at=local(monday, 10),
            )
        )


@pytest.mark.parametrize(
    ("starts_at", "refusal"),
    [
        (datetime(2026, 12, 7, 10, 0), MalformedTime),  # no time zone
        (datetime(2026, 12, 7, 10, 5, tzinfo=_RULES_TZ), MalformedTime),  # off the 15-min step
        (datetime(2026, 12, 6, 9, 0, tzinfo=_RULES_TZ), TooSoon),
        (datetime(2027, 3, 1, 10, 0, tzinfo=_RULES_TZ), TooFarAhead),
        (datetime(2026, 12, 12, 10, 0, tzinfo=_RULES_TZ), SchedulingClinicClosed),  # Saturday
        (datetime(2026, 12, 7, 19, 0, tzinfo=_RULES_TZ), SchedulingOutsideHours),
    ],
)
def test_booking_rules_refuse_with_their_own_errors(
    starts_at: datetime, refusal: type[BookingRefused]
) -> None:
    """Scheduling is below the practice boundary: its refusals are its own, each with the
    message the backend passes on (`serving.practice.builtin` maps them)."""
    rules = booking_rules(
        calendar=ClinicCalendar(tz=_RULES_TZ),
        step_minutes=15,
        min_notice_minutes=60,
        horizon_days=60,
    )
    every_day = [
        WeeklyWindow(weekday=d, starts_at=time(8, 0), ends_at=time(17, 0)) for d in range(7)
    ]
    with pytest.raises(refusal) as refused:
        check_bookable(
            starts_at=starts_at,
            duration=timedelta(minutes=30),
            windows=every_day,
            rules=rules,
            now=datetime(2026, 12, 6, 8, 30, tzinfo=_RULES_TZ),
        )
    assert not isinstance(refused.value, PracticeError)
    assert str(refused.value)
