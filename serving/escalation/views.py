"""What a dentist's link shows, as the JSON API returns it (`/api/v1/doctor/<token>`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class EscalationView(BaseModel):
    id: str
    urgency: str
    status: Literal["open", "claimed", "closed"]
    summary: str
    created_at: datetime
    opened_at: datetime | None
    joined_at: datetime | None
    closed_at: datetime | None


class DoctorView(BaseModel):
    name: str
    language: Literal["he", "en"]


class AppointmentView(BaseModel):
    id: int
    starts_at: datetime
    ends_at: datetime
    treatment_code: str
    treatment: str
    provider_id: int
    provider: str


class AllergyView(BaseModel):
    substance: str
    reaction: str | None
    severity: str


class PatientView(BaseModel):
    id: int | None
    """None: the patient never proved who they are (booking for them is not possible)."""
    name: str | None
    phone: str | None
    language: str
    channel: str
    appointments: list[AppointmentView]
    allergies: list[AllergyView]


class MessageView(BaseModel):
    id: int
    role: Literal["patient", "assistant", "doctor", "staff"]
    text: str
    created_at: datetime
    author: str | None
    delivery: Literal["sent", "failed"] | None


class TreatmentView(BaseModel):
    code: str
    name: str
    duration_minutes: int


class ProviderView(BaseModel):
    id: int
    name: str


class DeskView(BaseModel):
    escalation: EscalationView
    doctor: DoctorView
    patient: PatientView
    messages: list[MessageView]
    treatments: list[TreatmentView]
    providers: list[ProviderView]


class SlotView(BaseModel):
    starts_at: datetime
    ends_at: datetime
    provider_id: int
    provider: str
