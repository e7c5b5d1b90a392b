"""Dialogue state kept in the conversation row, so a patient can continue tomorrow and any
replica can answer the next message.

Choices offered to the patient (slots, appointments) and actions awaiting confirmation carry a
random nonce; buttons embed it, so a button from an old offer or another conversation is
recognised as stale instead of acting on the wrong thing.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.scheduling.request import SlotRequest


def new_nonce() -> str:
    return secrets.token_hex(4)


class OfferedSlot(BaseModel):
    starts_at: datetime
    provider_id: int
    provider_name: str
    provider_name_he: str
    treatment: str


class SlotOffer(BaseModel):
    """Up to three slots offered as buttons; `appointment_id` set when rescheduling it."""

    nonce: str = Field(default_factory=new_nonce)
    treatment: str
    slots: list[OfferedSlot]
    appointment_id: int | None = None
    relaxed: list[str] = Field(default_factory=list)
    """The parts of the request these nearest times do not honour ("time", "dates", ...)."""

    def ref(self, index: int) -> str:
        return f"{self.nonce}.{index + 1}"

    def slot(self, ref: str) -> OfferedSlot | None:
        nonce, _, position = ref.partition(".")
        if nonce != self.nonce or not position.isdigit():
            return None
        index = int(position) - 1
        return self.slots[index] if 0 <= index < len(self.slots) else None


class AppointmentChoice(BaseModel):
    """The patient's upcoming appointments offered for a reschedule or a cancellation."""

    nonce: str = Field(default_factory=new_nonce)
    purpose: Literal["reschedule", "cancel"]
    appointment_ids: list[int]

    def ref(self, index: int) -> str:
        return f"{self.nonce}.{index + 1}"

    def appointment_id(self, ref: str) -> int | None:
        nonce, _, position = ref.partition(".")
        if nonce != self.nonce or not position.isdigit():
            return None
        index = int(position) - 1
        return self.appointment_ids[index] if 0 <= index < len(self.appointment_ids) else None


class PendingAction(BaseModel):
    """A change that waits for the patient's explicit confirmation."""

    nonce: str = Field(default_factory=new_nonce)
    action: Literal["book", "reschedule", "cancel"]
    treatment: str
    starts_at: datetime
    provider_id: int
    appointment_id: int | None = None
    old_starts_at: datetime | None = None


class SafetyCheck(BaseModel):
    """The safety question asked about a message ("is anyone having trouble breathing, ...?"),
    waiting for its answer. `text` is that message: a "no" answers it as its triage says."""

    text: str


class CallbackOffer(BaseModel):
    """A call-back offered when the practice system could not be used: its button asks the
    clinic's reception to get back to the patient. `intent` is what the patient was doing
    (`book_appointment`, `my_allergies`, ...), so the request says it without their words."""

    nonce: str = Field(default_factory=new_nonce)
    intent: str
    cannot_show: bool = False
    """The system answered but cannot show that (its set-up lacks it), rather than being
    unreachable."""


class ConversationState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    greeted: bool = False
    awaiting_treatment: bool = False
    draft: SlotRequest = Field(default_factory=SlotRequest)
    """What the patient has asked for so far about the visit they want."""
    offer: SlotOffer | None = None
    choice: AppointmentChoice | None = None
    pending: PendingAction | None = None
    safety_check: SafetyCheck | None = None
    callback: CallbackOffer | None = None
    escalations_noted: list[str] = Field(default_factory=list)
    """Open escalations (by id) the patient was already told a dentist still has, in this
    conversation: they are told once."""
