"""The staff console's calendar and bookings for a patient.

Everything goes through the `PracticeBackend`, built in or the clinic's Odoo: the calendar shows
the practice system's own appointments and hours, and every booking, move and cancellation is
held to the rules the assistant books by (a taken time, a closure or hours outside the
provider's are refused and nothing is booked). Each read or change of patient data is recorded
in the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from serving.console.booking_views import (
    AppointmentItem,
    CalendarDay,
    CalendarView,
    PatientRef,
    ProviderItem,
    SlotItem,
    TreatmentItem,
)
from serving.console.patient_names import patient_names
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeError, UnknownProvider
from serving.practice.models import Appointment, Provider
from serving.staff.audit import AuditContext, AuditLog

MAX_CALENDAR_DAYS = 31
SLOT_LIMIT = 100

T = TypeVar("T")


class StaffSchedule:
    def __init__(self, *, backend: PracticeBackend, audit: AuditLog, timezone: str) -> None:
        self._backend = backend
        self._audit = audit
        self._tz = ZoneInfo(timezone)

    async def providers(self) -> list[ProviderItem]:
        """The practice system's active providers."""
        return [_provider(p) for p in await self._backend.list_providers()]

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
        `first`, as the practice system has them. UnknownProvider when there is no such active
        provider."""
        if not 1 <= days <= MAX_CALENDAR_DAYS:
            raise ValueError(f"days is 1 to {MAX_CALENDAR_DAYS}")
        start = datetime.combine(first, time.min, self._tz)
        end = datetime.combine(first + timedelta(days=days), time.min, self._tz)
        hours = await self._backend.clinic_hours(provider_id)
        provider = next(
            (p for p in await self._backend.list_providers() if p.id == provider_id), None
        )
        if provider is None:  # retired since, or the provider list was read a moment ago
            raise UnknownProvider(f"no active provider with id {provider_id}")
        found = await self._backend.appointments_between(start, end, provider_id=provider_id)
        appointments = await self._items(found)
        by_day: dict[date, list[AppointmentItem]] = {}
        for item in appointments:
            by_day.setdefault(item.starts_at.date(), []).append(item)
        calendar_days = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            calendar_days.append(
                CalendarDay(
                    date=day,
                    hours=[
                        (f"{opens:%H:%M}", f"{closes:%H:%M}") for opens, closes in hours.on(day)
                    ],
                    appointments=by_day.get(day, []),
                )
            )
        await self._audit.record(
            context,
            "calendar.read",
            subject=f"provider:{provider_id}",
            detail={"from": first.isoformat(), "days": days, "appointments": len(appointments)},
        )
        return CalendarView(provider=_provider(provider), days=calendar_days)

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
        return (await self._items([await self._backend.get_appointment(appointment_id)]))[0]

    async def _patient_of(self, appointment_id: int) -> int:
        return (await self._backend.get_appointment(appointment_id)).patient_id

    async def _items(self, appointments: list[Appointment]) -> list[AppointmentItem]:
        names = await patient_names(self._backend, [a.patient_id for a in appointments])
        return [_appointment(a, names.get(a.patient_id, ""), self._tz) for a in appointments]


def _provider(p: Provider) -> ProviderItem:
    return ProviderItem(id=p.id, name=p.name, name_he=p.name_he, role=p.role, active=True)


def _appointment(a: Appointment, patient_name: str, tz: ZoneInfo) -> AppointmentItem:
    return AppointmentItem(
        id=a.id,
        starts_at=a.starts_at.astimezone(tz),
        ends_at=a.ends_at.astimezone(tz),
        treatment=a.treatment_name,
        treatment_code=a.treatment_code,
        provider_id=a.provider_id,
        provider_name=a.provider_name,
        patient=PatientRef(id=a.patient_id, name=patient_name),
        status=a.status,
    )
