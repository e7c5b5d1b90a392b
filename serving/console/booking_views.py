"""The JSON shapes of the staff console's patients, calendar and bookings
(`/api/v1/admin/...`). Times are clinic-local with their offset."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class PatientRef(BaseModel):
    id: int
    name: str


class PatientItem(BaseModel):
    id: int
    name: str
    name_he: str | None
    phone: str


class ProviderItem(BaseModel):
    id: int
    name: str
    name_he: str
    role: str
    active: bool


class TreatmentItem(BaseModel):
    code: str
    name: str
    name_he: str
    duration_minutes: int


class AppointmentItem(BaseModel):
    """One appointment as the calendar and the booking routes show it."""

    id: int
    starts_at: datetime
    ends_at: datetime
    treatment: str
    treatment_code: str
    provider_id: int
    provider_name: str
    patient: PatientRef
    status: str


class CalendarDay(BaseModel):
    date: date
    hours: list[tuple[str, str]]
    """The provider's open hours that day ("08:00", "16:00"), less the clinic's closures."""
    appointments: list[AppointmentItem]


class CalendarView(BaseModel):
    provider: ProviderItem
    days: list[CalendarDay]


class SlotItem(BaseModel):
    starts_at: datetime
    provider_id: int
    provider_name: str


class AllergyItem(BaseModel):
    substance: str
    reaction: str | None
    severity: str


class NoteItem(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime
    for_patient: bool
    """Written for the patient: the assistant reads it out to them when asked; staff notes and
    transcripts it never does."""


class PlanItemView(BaseModel):
    treatment_code: str
    treatment_name: str
    tooth: str | None
    status: str
    estimated_price: str


class PlanView(BaseModel):
    id: int
    title: str
    status: str
    items: list[PlanItemView]


class ClinicalView(BaseModel):
    allergies: list[AllergyItem]
    notes: list[NoteItem]
    plans: list[PlanView]
