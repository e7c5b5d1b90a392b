"""The staff console's patients, calendar, free times, bookings for a patient and clinical
record (`/api/v1/admin/...`). Thin: the work is in serving.console; every route declares its
permission with `require`, and every read or change of patient data is audited there."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from serving.api.staff_auth import require
from serving.console.booking_views import (
    AppointmentItem,
    CalendarView,
    ClinicalView,
    PatientItem,
    ProviderItem,
    SlotItem,
    TreatmentItem,
)
from serving.console.patients import StaffPatients
from serving.console.schedule import MAX_CALENDAR_DAYS, StaffSchedule
from serving.practice.errors import (
    AppointmentNotFound,
    InvalidRequest,
    PatientNotFound,
    PracticeUnavailable,
    SlotUnavailable,
    UnknownProvider,
    UnknownTreatmentType,
)
from serving.staff.audit import AuditContext

router = APIRouter(prefix="/api/v1/admin", tags=["staff"])

T = TypeVar("T")
Appointments = Annotated[AuditContext, Depends(require("appointments"))]
Clinical = Annotated[AuditContext, Depends(require("clinical"))]


class PatientsOut(BaseModel):
    items: list[PatientItem]


class ProvidersOut(BaseModel):
    items: list[ProviderItem]


class TreatmentsOut(BaseModel):
    items: list[TreatmentItem]


class SlotsOut(BaseModel):
    items: list[SlotItem]


class AppointmentOut(BaseModel):
    appointment: AppointmentItem


class BookIn(BaseModel):
    patient_id: int = Field(ge=1)
    treatment: str = Field(min_length=1, max_length=40)
    provider_id: int | None = Field(default=None, ge=1)
    starts_at: AwareDatetime


class MoveIn(BaseModel):
    starts_at: AwareDatetime
    provider_id: int | None = Field(default=None, ge=1)


def _schedule(request: Request) -> StaffSchedule:
    schedule: StaffSchedule = request.app.state.staff_schedule
    return schedule


def _patients(request: Request) -> StaffPatients:
    patients: StaffPatients = request.app.state.staff_patients
    return patients


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _answer(work: Awaitable[T]) -> T | JSONResponse:
    """The practice system's refusals as client errors: a time that cannot be booked is 409
    (its code says why: taken, closed, outside hours, past), nothing having changed."""
    try:
        return await work
    except (PatientNotFound, AppointmentNotFound) as error:
        return _error(404, "not_found", str(error))
    except SlotUnavailable as error:
        return _error(409, error.code, str(error))
    except (UnknownTreatmentType, UnknownProvider, InvalidRequest) as error:
        return _error(422, "invalid_request", str(error))
    except PracticeUnavailable:
        return _error(503, "practice_unavailable", "the practice system cannot be reached")


@router.get("/patients", response_model=PatientsOut)
async def search_patients(
    request: Request,
    context: Appointments,
    q: Annotated[str, Query(min_length=2, max_length=120)],
) -> PatientsOut | JSONResponse:
    """Patients by name (every word) or phone number; at most 20."""

    async def work() -> PatientsOut:
        return PatientsOut(items=await _patients(request).search(context, q))

    return await _answer(work())


@router.get("/providers", response_model=ProvidersOut)
async def list_providers(request: Request, context: Appointments) -> ProvidersOut:
    return ProvidersOut(items=await _schedule(request).providers())


@router.get("/treatments", response_model=TreatmentsOut)
async def list_treatments(request: Request, context: Appointments) -> TreatmentsOut:
    return TreatmentsOut(items=await _schedule(request).treatments())


@router.get("/calendar", response_model=CalendarView)
async def calendar(
    request: Request,
    context: Appointments,
    provider_id: Annotated[int, Query(ge=1)],
    from_: Annotated[date, Query(alias="from")],
    days: Annotated[int, Query(ge=1, le=MAX_CALENDAR_DAYS)] = 7,
) -> CalendarView | JSONResponse:
    """A provider's open hours and appointments, day by day; 404 for an unknown provider."""
    try:
        return await _schedule(request).week(context, provider_id, from_, days)
    except UnknownProvider as error:
        return _error(404, "not_found", str(error))


@router.get("/slots", response_model=SlotsOut)
async def free_slots(
    request: Request,
    context: Appointments,
    treatment: Annotated[str, Query(min_length=1, max_length=40)],
    day: Annotated[date, Query(alias="date")],
    provider_id: Annotated[int | None, Query(ge=1)] = None,
) -> SlotsOut | JSONResponse:
    """The free start times of a day for a treatment (with one provider, or anyone)."""

    async def work() -> SlotsOut:
        return SlotsOut(items=await _schedule(request).slots(treatment, day, provider_id))

    return await _answer(work())


@router.post("/appointments", status_code=201, response_model=AppointmentOut)
async def book_appointment(
    request: Request, context: Appointments, body: BookIn
) -> AppointmentOut | JSONResponse:
    """Book for a patient; 409 when the time cannot be had (nothing is booked)."""

    async def work() -> AppointmentOut:
        booked = await _schedule(request).book(
            context,
            patient_id=body.patient_id,
            treatment=body.treatment,
            provider_id=body.provider_id,
            starts_at=body.starts_at,
        )
        return AppointmentOut(appointment=booked)

    return await _answer(work())


@router.patch("/appointments/{appointment_id}", response_model=AppointmentOut)
async def move_appointment(
    request: Request, context: Appointments, appointment_id: int, body: MoveIn
) -> AppointmentOut | JSONResponse:
    """Move to another time (and provider); 409 when the new time cannot be had."""

    async def work() -> AppointmentOut:
        moved = await _schedule(request).move(
            context, appointment_id, starts_at=body.starts_at, provider_id=body.provider_id
        )
        return AppointmentOut(appointment=moved)

    return await _answer(work())


@router.delete("/appointments/{appointment_id}", response_model=AppointmentOut)
async def cancel_appointment(
    request: Request, context: Appointments, appointment_id: int
) -> AppointmentOut | JSONResponse:
    async def work() -> AppointmentOut:
        return AppointmentOut(appointment=await _schedule(request).cancel(context, appointment_id))

    return await _answer(work())


@router.get("/patients/{patient_id}/clinical", response_model=ClinicalView)
async def clinical_record(
    request: Request, context: Clinical, patient_id: int
) -> ClinicalView | JSONResponse:
    """Allergies, notes and the current treatment plan."""
    return await _answer(_patients(request).clinical(context, patient_id))
