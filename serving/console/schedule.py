"""The staff console's calendar and bookings for a patient.

Reads (providers, a provider's week) come from the app database, where the built-in practice
system keeps its schedule; every booking, move and cancellation goes through the
`PracticeBackend`, so the rules the assistant books by hold for staff too (a taken time, a
closure or hours outside the provider's are refused and nothing is booked). Each read or change
of patient data is recorded in the audit trail; a change is recorded once the practice system
has committed it, since the backend keeps its own transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from serving.console.booking_views import (
    AppointmentItem,
    CalendarDay,
    CalendarView,
    PatientRef,
    ProviderItem,
    SlotItem,
    TreatmentItem,
)
from serving.db import models as db
from serving.db.engine import Database
from serving.practice.backend import PracticeBackend
from serving.practice.errors import AppointmentNotFound, PracticeError, UnknownProvider
from serving.scheduling.calendar import ClinicCalendar
from serving.staff.audit import AuditContext, AuditLog

MAX_CALENDAR_DAYS = 31
SLOT_LIMIT = 100

T = TypeVar("T")


class StaffSchedule:
    def __init__(
        self,
        database: Database,
        *,
        backend: PracticeBackend,
        audit: AuditLog,
        calendar: ClinicCalendar,
    ) -> None:
        """`calendar`: the clinic's Shabbat and holidays; its configured closures are read
        from the database on each calendar read (staff change them while serving)."""
        self._db = database
        self._backend = backend
        self._audit = audit
        self._calendar = calendar

    @property
    def _tz(self) -> ZoneInfo:
        return self._calendar.tz

    async def providers(self) -> list[ProviderItem]:
        """Every provider, retired ones too (`active` false), so old bookings keep a name."""
        async with self._db.read() as session:
            rows = await session.scalars(select(db.Provider).order_by(db.Provider.id))
            return [_provider(p) for p in rows]

    async def treatments(self) -> list[TreatmentItem]:
        return [
            TreatmentItem(
                code=t.code, name=t.name, name_he=t.name_he, duration_minutes=t.duration_minutes
            )
            for t in await self._backend.list_treatment_types()
        ]

    async def week(
        self, context: AuditContext, provider_id: int, first: date, days: int
    ) -> CalendarView:
        """The provider's open hours and appointments (every status) for `days` days from
        `first`. UnknownProvider when there is no such provider."""
        if not 1 <= days <= MAX_CALENDAR_DAYS:
            raise ValueError(f"days is 1 to {MAX_CALENDAR_DAYS}")
        start = datetime.combine(first, time.min, self._tz)
        end = datetime.combine(first + timedelta(days=days), time.min, self._tz)
        async with self._db.read() as session:
            provider = await session.scalar(
                select(db.Provider)
                .where(db.Provider.id == provider_id)
                .options(selectinload(db.Provider.working_hours))
            )
            if provider is None:
                raise UnknownProvider(f"no provider with id {provider_id}")
            rows = await session.execute(
                select(db.Appointment, db.Patient)
                .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
                .where(
                    db.Appointment.provider_id == provider_id,
                    db.Appointment.starts_at >= start,
                    db.Appointment.starts_at < end,
                )
                .options(
                    selectinload(db.Appointment.provider),
                    selectinload(db.Appointment.treatment_type),
                )
                .order_by(db.Appointment.starts_at, db.Appointment.id)
            )
            appointments = [_appointment(a, p, self._tz) for a, p in rows]
            closures = {
                day: reason
                for day, reason in await session.execute(
                    select(db.ClinicClosure.day, db.ClinicClosure.reason)
                )
            }
            calendar = dataclasses.replace(self._calendar, closures=closures)
            windows = [(w.weekday, w.starts_at, w.ends_at) for w in provider.working_hours]
            view_provider = _provider(provider)
        by_day: dict[date, list[AppointmentItem]] = {}
        for item in appointments:
            by_day.setdefault(item.starts_at.date(), []).append(item)
        calendar_days = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            hours = [
                (f"{opens:%H:%M}", f"{closes:%H:%M}")
                for weekday, starts, ends in sorted(windows)
                if weekday == day.weekday()
                for opens, closes in _open_parts(calendar, day, starts, ends)
            ]
            calendar_days.append(
                CalendarDay(date=day, hours=hours, appointments=by_day.get(day, []))
            )
        await self._audit.record(
            context,
            "calendar.read",
            subject=f"provider:{provider_id}",
            detail={"from": first.isoformat(), "days": days, "appointments": len(appointments)},
        )
        return CalendarView(provider=view_provider, days=calendar_days)

    async def slots(self, treatment: str, day: date, provider_id: int | None) -> list[SlotItem]:
        """The free start times of `day`, as the practice system offers them to the assistant."""
        found = await self._backend.get_available_slots(
            treatment, day, day, provider_id=provider_id, limit=SLOT_LIMIT
        )
        return [
            SlotItem(
                starts_at=s.starts_at.astimezone(self._tz),
                provider_id=s.provider_id,
                provider_name=s.provider_name,
            )
            for s in found
        ]

    async def book(
        self,
        context: AuditContext,
        *,
        patient_id: int,
        treatment: str,
        provider_id: int | None,
        starts_at: datetime,
    ) -> AppointmentItem:
        booked = await self._audited(
            context,
            "appointment.book",
            patient_id,
            f"patient:{patient_id}",
            {
                "starts_at": starts_at.isoformat(),
                "provider_id": provider_id,
                "treatment": treatment,
            },
            self._backend.create_appointment(
                patient_id,
                treatment,
                starts_at,
                provider_id=provider_id,
                notes=f"Booked by {context.principal.name} (staff console)",
            ),
        )
        return await self.appointment(booked.id)

    async def move(
        self,
        context: AuditContext,
        appointment_id: int,
        *,
        starts_at: datetime,
        provider_id: int | None,
    ) -> AppointmentItem:
        patient_id = await self._patient_of(appointment_id)
        await self._audited(
            context,
            "appointment.move",
            patient_id,
            f"appointment:{appointment_id}",
            {"starts_at": starts_at.isoformat(), "provider_id": provider_id},
            self._backend.reschedule_appointment(
                patient_id, appointment_id, starts_at, provider_id=provider_id
            ),
        )
        return await self.appointment(appointment_id)

    async def cancel(self, context: AuditContext, appointment_id: int) -> AppointmentItem:
        patient_id = await self._patient_of(appointment_id)
        await self._audited(
            context,
            "appointment.cancel",
            patient_id,
            f"appointment:{appointment_id}",
            {},
            self._backend.cancel_appointment(
                patient_id, appointment_id, reason=f"Cancelled by {context.principal.name}"
            ),
        )
        return await self.appointment(appointment_id)

    async def _audited(
        self,
        context: AuditContext,
        action: str,
        patient_id: int,
        subject: str,
        detail: dict[str, object],
        change: Awaitable[T],
    ) -> T:
        """Record the change, then make it. The practice system (built in, or another system
        such as Odoo) keeps its own transactions, so the entry cannot commit with the change;
        written first, no change is ever made unrecorded. A refusal is recorded after it."""
        await self._audit.record(
            context, action, patient_id=patient_id, subject=subject, detail=detail
        )
        try:
            return await change
        except PracticeError as error:
            await self._audit.record(
                context,
                f"{action}.refused",
                patient_id=patient_id,
                subject=subject,
                detail={"error": type(error).__name__},
            )
            raise

    async def appointment(self, appointment_id: int) -> AppointmentItem:
        """The appointment as the calendar shows it; AppointmentNotFound if there is none."""
        async with self._db.read() as session:
            found = (
                await session.execute(
                    select(db.Appointment, db.Patient)
                    .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
                    .where(db.Appointment.id == appointment_id)
                    .options(
                        selectinload(db.Appointment.provider),
                        selectinload(db.Appointment.treatment_type),
                    )
                )
            ).first()
            if found is None:
                raise AppointmentNotFound(f"no appointment {appointment_id}")
            return _appointment(found[0], found[1], self._tz)

    async def _patient_of(self, appointment_id: int) -> int:
        async with self._db.read() as session:
            patient_id = await session.scalar(
                select(db.Appointment.patient_id).where(db.Appointment.id == appointment_id)
            )
        if patient_id is None:
            raise AppointmentNotFound(f"no appointment {appointment_id}")
        return int(patient_id)


def _open_parts(
    calendar: ClinicCalendar, day: date, starts: time, ends: time
) -> list[tuple[datetime, datetime]]:
    """The working window [starts, ends) of `day` less the clinic's closed periods."""
    parts = [(datetime.combine(day, starts, calendar.tz), datetime.combine(day, ends, calendar.tz))]
    for closed_from, closed_to, _reason in calendar.closed_intervals(day):
        remaining = []
        for opens, closes in parts:
            if closed_from > opens:
                remaining.append((opens, min(closes, closed_from)))
            if closed_to < closes:
                remaining.append((max(opens, closed_to), closes))
        parts = [(opens, closes) for opens, closes in remaining if opens < closes]
    return parts


def _provider(p: db.Provider) -> ProviderItem:
    return ProviderItem(id=p.id, name=p.name, name_he=p.name_he, role=p.role, active=p.active)


def _appointment(a: db.Appointment, patient: db.Patient, tz: ZoneInfo) -> AppointmentItem:
    return AppointmentItem(
        id=a.id,
        starts_at=a.starts_at.astimezone(tz),
        ends_at=a.ends_at.astimezone(tz),
        treatment=a.treatment_type.name,
        treatment_code=a.treatment_type.code,
        provider_id=a.provider_id,
        provider_name=a.provider.name,
        patient=PatientRef(id=patient.id, name=f"{patient.first_name} {patient.last_name}"),
        status=a.status,
    )
