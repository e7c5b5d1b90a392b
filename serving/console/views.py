"""The JSON shapes of the staff console (`/api/v1/admin/...`): patients, calendar and bookings;
conversations and escalations (docs: the staff API contract). Times are clinic-local with their
offset."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

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


class EscalationRef(BaseModel):
    id: str
    urgency: str
    status: Literal["open", "claimed", "closed"]


class ConversationItem(BaseModel):
    id: str
    channel: str
    language: str
    patient: PatientRef | None
    last_message_at: datetime | None
    message_count: int
    held_by: str | None
    """Who holds it: the staff member who took it over, or the dentist who joined its
    escalation; None while the assistant answers."""
    escalation: EscalationRef | None
    """Its escalation not closed yet."""


class ConsoleMessage(BaseModel):
    id: int
    role: Literal["patient", "assistant", "doctor", "staff"]
    author: str | None
    text: str
    at: datetime
    delivery: Literal["sent", "failed"] | None


class ConversationDetail(BaseModel):
    conversation: ConversationItem
    messages: list[ConsoleMessage]


class EscalationItem(BaseModel):
    id: str
    conversation_id: str
    urgency: str
    status: Literal["open", "claimed", "closed"]
    reasons: list[str]
    summary: str
    patient: PatientRef | None
    created_at: datetime
    updated_at: datetime
    doctor_name: str | None
