"""Booking rules: working hours, Shabbat, holidays, past times, double booking — on both DBs."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from serving.db import models as db
from serving.db.engine import Database
from serving.practice import (
    AppointmentNotFound,
    ClinicClosed,
    InvalidRequest,
    OutsideWorkingHours,
    PatientNotFound,
    SlotUnavailable,
    TimeInPast,
    UnknownProvider,
    UnknownTreatmentType,
)
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.errors import PracticeError
from serving.practice.factory import booking_rules_from_settings
from serving.scheduling.calendar import ClinicCalendar
from serving.scheduling.errors import BookingRefused, MalformedTime, TooFarAhead, TooSoon
from serving.scheduling.errors import ClinicClosed as SchedulingClinicClosed
from serving.scheduling.errors import OutsideWorkingHours as SchedulingOutsideHours
from serving.scheduling.slots import WeeklyWindow, booking_rules, check_bookable
from tests.clinic_time import (
    CLINIC_TZ,
    FRIDAY,
    MONDAY,
    SATURDAY,
    local,
    next_public_holiday_on,
    next_weekday,
    today,
)
from tests.conftest import make_settings

DANA, JOHN = "+972501234567", "+12025550143"
COHEN = 1  # Dr. Avi Cohen works Sun-Tue and Thu 08-16, Wed 12-20
# The demo clinic books its upcoming visits 3 to 19 days after loading (demo_clinic.json,
# `days_ahead`): days used as a free schedule must lie beyond them, whatever today is.
DEMO_FREE_AFTER_DAYS = 28
MIZRAHI = 2  # Dr. Rivka Mizrahi works Sun-Tue and Thu 12-20, Fri 08-13

_RULES_TZ = ZoneInfo("Asia/Jerusalem")


async def _patient_id(backend: BuiltinPracticeBackend, phone: str) -> int:
    [patient] = await backend.search_patient(phone=phone)
    return patient.id


async def _appointment_count(database: Database) -> int:
    async with database.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(db.Appointment))
    assert count is not None
    return count


async def test_slots_respect_hours_closures_and_bookings(backend: BuiltinPracticeBackend) -> None:
    start = today()
    slots = await backend.get_available_slots(
        "checkup", start, start + timedelta(days=14), limit=100
    )
    assert slots, "two weeks of a clinic with three providers must have free checkups"
    assert slots == sorted(slots, key=lambda s: (s.starts_at, s.provider_id))
    booked = await backend.list_patient_appointments(await _patient_id(backend, DANA))
    for slot in slots:
        begin = slot.starts_at.astimezone(CLINIC_TZ)
        assert slot.ends_at - slot.starts_at == timedelta(minutes=30)
        assert begin.minute % 15 == 0
        assert begin.weekday() != SATURDAY
        assert not (begin.weekday() == FRIDAY and begin.hour >= 14)
        assert slot.starts_at > datetime.now(CLINIC_TZ) + timedelta(minutes=59)
        assert slot.provider_id != 3, "the hygienist does not do checkups"
        for appointment in booked:
            if appointment.provider_id == slot.provider_id:
                assert not (
                    appointment.starts_at < slot.ends_at and slot.starts_at < appointment.ends_at
                )


async def test_slots_for_one_provider(backend: BuiltinPracticeBackend) -> None:
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    slots = await backend.get_available_slots("filling", monday, monday, provider_id=COHEN)
    assert slots and {s.provider_id for s in slots} == {COHEN}
    assert slots[0].starts_at == local(monday, 8)
    assert all(s.ends_at <= local(monday, 16) for s in slots)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"treatment_code": "teeth_cleaning_deluxe"}, UnknownTreatmentType),
        ({"provider_id": 3, "treatment_code": "root_canal"}, UnknownProvider),
        ({"provider_id": 99}, UnknownProvider),
        ({"days": (3, 1)}, InvalidRequest),
        ({"days": (0, 90)}, InvalidRequest),
        ({"days": (-10, -3)}, TimeInPast),
        ({"limit": 0}, InvalidRequest),
    ],
)
async def test_bad_slot_searches(
    backend: BuiltinPracticeBackend, kwargs: dict[str, object], error: type[Exception]
) -> None:
    kwargs = dict(kwargs)  # parametrize shares the dict between the two database runs
    first, last = kwargs.pop("days", (0, 7))  # type: ignore[misc]
    treatment = kwargs.pop("treatment_code", "checkup")
    with pytest.raises(error):
        await backend.get_available_slots(
            str(treatment),
            today() + timedelta(days=first),
            today() + timedelta(days=last),
            **kwargs,  # type: ignore[arg-type]
        )


async def test_book_reschedule_cancel(backend: BuiltinPracticeBackend, database: Database) -> None:
    john = await _patient_id(backend, JOHN)
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    booked = await backend.create_appointment(john, "Root Canal", local(monday, 8))
    assert (booked.provider_id, booked.treatment_code, booked.status) == (
        COHEN,
        "root_canal",
        "scheduled",
    )
    assert booked.ends_at == local(monday, 9, 30)
    assert await backend.list_patient_appointments(john) == [booked]

    moved = await backend.reschedule_appointment(john, booked.id, local(monday, 12))
    assert (moved.id, moved.starts_at, moved.ends_at) == (
        booked.id,
        local(monday, 12),
        local(monday, 13, 30),
    )
    slots = await backend.get_available_slots("checkup", monday, monday, provider_id=COHEN)
    assert local(monday, 8) in {s.starts_at for s in slots}, "the old time is free again"
    assert local(monday, 12, 30) not in {s.starts_at for s in slots}

    cancelled = await backend.cancel_appointment(john, booked.id, reason="travelling")
    assert cancelled.status == "cancelled"
    assert await backend.list_patient_appointments(john) == []
    with pytest.raises(InvalidRequest, match="already cancelled"):
        await backend.cancel_appointment(john, booked.id)
    # the cancelled time can be booked again
    again = await backend.create_appointment(john, "checkup", local(monday, 12), provider_id=COHEN)
    assert again.status == "scheduled"
    assert await _appointment_count(database) > 0


async def test_without_provider_the_first_free_one_is_chosen(
    backend: BuiltinPracticeBackend,
) -> None:
    dana, john = await _patient_id(backend, DANA), await _patient_id(backend, JOHN)
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    first = await backend.create_appointment(john, "checkup", local(monday, 13))
    second = await backend.create_appointment(dana, "checkup", local(monday, 13))
    assert {first.provider_id, second.provider_id} == {COHEN, MIZRAHI}


async def _assert_refused(
    backend: BuiltinPracticeBackend,
    database: Database,
    error: type[Exception],
    match: str,
    **booking: object,
) -> None:
    before = await _appointment_count(database)
    with pytest.raises(error, match=match):
        await backend.create_appointment(**booking)  # type: ignore[arg-type]
    assert await _appointment_count(database) == before, "a refused booking wrote something"


async def test_bad_bookings_are_typed_and_write_nothing(
    backend: BuiltinPracticeBackend, database: Database
) -> None:
    john = await _patient_id(backend, JOHN)
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    yesterday = today() - timedelta(days=1)
    cases: list[tuple[type[Exception], str, dict[str, object]]] = [
        (TimeInPast, "passed", {"starts_at": local(yesterday, 10)}),
        (TimeInPast, "notice", {"starts_at": datetime.now(CLINIC_TZ) + timedelta(minutes=5)}),
        (SlotUnavailable, "days ahead", {"starts_at": local(today() + timedelta(days=400), 10)}),
        (OutsideWorkingHours, "working hours", {"starts_at": local(monday, 3)}),
        (OutsideWorkingHours, "working hours", {"starts_at": local(monday, 19, 45)}),
        (ClinicClosed, "Shabbat", {"starts_at": local(next_weekday(SATURDAY), 10)}),
        (ClinicClosed, "Shabbat", {"starts_at": local(next_weekday(FRIDAY), 13, 45)}),
        (
            InvalidRequest,
            "time zone",
            {"starts_at": datetime.combine(monday, local(monday, 9).time())},
        ),
        (InvalidRequest, "15-minute", {"starts_at": local(monday, 9, 7)}),
        (UnknownTreatmentType, "clinic offers", {"treatment_code": "tattoo"}),
        (UnknownProvider, "does not perform", {"provider_id": 3}),
        (PatientNotFound, "no patient", {"patient_id": 424242}),
        (InvalidRequest, "notes", {"notes": "x" * 5000}),
    ]
    for error, match, override in cases:
        booking: dict[str, object] = {
            "patient_id": john,
            "treatment_code": "checkup",
            "starts_at": local(monday, 9),
            **override,
        }
        await _assert_refused(backend, database, error, match, **booking)


async def test_friday_morning_is_open_until_shabbat(backend: BuiltinPracticeBackend) -> None:
    friday = next_weekday(FRIDAY)
    booked = await backend.create_appointment(
        await _patient_id(backend, JOHN), "checkup", local(friday, 12, 30)
    )
    assert booked.provider_id == MIZRAHI


async def test_public_holidays_and_their_eves_are_closed(
    database: Database, database_url: str
) -> None:
    settings = make_settings(database_url, booking_horizon_days=730)
    backend = BuiltinPracticeBackend(database, booking_rules_from_settings(settings))
    john = await _patient_id(backend, JOHN)
    holiday, name = next_public_holiday_on({6, 0, 1, 3})  # a day Dr. Cohen works
    with pytest.raises(ClinicClosed, match=name):
        await backend.create_appointment(john, "checkup", local(holiday, 10), provider_id=COHEN)
    slots = await backend.get_available_slots("checkup", holiday, holiday)
    assert slots == []
    eve = holiday - timedelta(days=1)
    if eve.weekday() in {6, 0, 1, 3}:
        with pytest.raises(ClinicClosed, match="eve of public holiday"):
            await backend.create_appointment(john, "checkup", local(eve, 15), provider_id=COHEN)


async def test_shabbat_and_holidays_are_configurable(database: Database, database_url: str) -> None:
    settings = make_settings(database_url, shabbat_starts_friday="12:00")
    backend = BuiltinPracticeBackend(database, booking_rules_from_settings(settings))
    with pytest.raises(ClinicClosed, match="Shabbat"):
        await backend.create_appointment(
            await _patient_id(backend, JOHN), "checkup", local(next_weekday(FRIDAY), 12, 0)
        )
    relaxed = make_settings(database_url, observe_public_holidays=False, booking_horizon_days=730)
    backend = BuiltinPracticeBackend(database, booking_rules_from_settings(relaxed))
    holiday, _ = next_public_holiday_on({6, 0, 1, 3})
    booked = await backend.create_appointment(
        await _patient_id(backend, JOHN), "checkup", local(holiday, 10), provider_id=COHEN
    )
    assert booked.status == "scheduled"


async def test_configured_closure_day(backend: BuiltinPracticeBackend, database: Database) -> None:
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    async with database.transaction() as session:
        session.add(db.ClinicClosure(day=monday, reason="staff training"))
    with pytest.raises(ClinicClosed, match="staff training"):
        await backend.create_appointment(
            await _patient_id(backend, JOHN), "checkup", local(monday, 9)
        )
    assert await backend.get_available_slots("checkup", monday, monday) == []


async def test_double_booking_is_refused(
    backend: BuiltinPracticeBackend, database: Database
) -> None:
    dana, john = await _patient_id(backend, DANA), await _patient_id(backend, JOHN)
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    await backend.create_appointment(john, "filling", local(monday, 9), provider_id=COHEN)
    await _assert_refused(
        backend,
        database,
        SlotUnavailable,
        "already booked",
        patient_id=dana,
        treatment_code="checkup",
        starts_at=local(monday, 9, 30),
        provider_id=COHEN,
    )
    await _assert_refused(
        backend,
        database,
        SlotUnavailable,
        "already has an appointment",
        patient_id=john,
        treatment_code="checkup",
        starts_at=local(monday, 9, 45),
    )


async def test_reschedule_refusals_leave_the_appointment_unchanged(
    backend: BuiltinPracticeBackend,
) -> None:
    dana, john = await _patient_id(backend, DANA), await _patient_id(backend, JOHN)
    monday = next_weekday(MONDAY, at_least_days=DEMO_FREE_AFTER_DAYS)
    johns = await backend.create_appointment(john, "checkup", local(monday, 9), provider_id=COHEN)
    danas = await backend.create_appointment(dana, "checkup", local(monday, 10), provider_id=COHEN)
    with pytest.raises(SlotUnavailable):
        await backend.reschedule_appointment(john, johns.id, local(monday, 10))
    with pytest.raises(ClinicClosed):
        await backend.reschedule_appointment(john, johns.id, local(next_weekday(SATURDAY), 10))
    with pytest.raises(AppointmentNotFound):
        await backend.reschedule_appointment(john, danas.id, local(monday, 11))
    with pytest.raises(AppointmentNotFound):
        await backend.cancel_appointment(john, danas.id)
    assert await backend.list_patient_appointments(john) == [johns]
    assert danas in await backend.list_patient_appointments(dana)


async def test_past_appointments_cannot_change(backend: BuiltinPracticeBackend) -> None:
    john = await _patient_id(backend, JOHN)
    [past] = await backend.list_patient_appointments(john, include_past=True)
    assert past.status == "completed"
    with pytest.raises(InvalidRequest):
        await backend.cancel_appointment(john, past.id)


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
