"""What the staff console's conversation and escalation routes return (docs: the staff API
contract, "console-a")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class PatientRef(BaseModel):
    id: int
    name: str


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
