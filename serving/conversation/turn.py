"""Everything one turn of the conversation may use, bound to the verified patient (if any).

Tools read the patient from here, never from model output: a model cannot name someone else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from serving.bundle.load import Bundle
from serving.clinic import ClinicProfile
from serving.conversation.state import ConversationState
from serving.language import Language
from serving.memory.records import PatientMemory, PatternOutcomes
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeUnavailable
from serving.practice.models import InvoiceSummary, Patient, Provider, TreatmentType


def catalog_text(
    bundle: Bundle, clinic: ClinicProfile, language: Language, key: str, **values: object
) -> str:
    """A text of the bundle's message catalog in `language`, with the clinic's name, phone and
    urgent line available to it."""
    return bundle.message(
        language,
        key,
        clinic_name=clinic.name(language),
        clinic_phone=clinic.phone,
        urgent_line=clinic.urgent_line,
        **values,
    )


def local_when(message: Callable[..., str], local: datetime) -> str:
    """A clinic-local time as patients read it, e.g. "Tue 1 Dec at 10:00", from `message`
    (key, **values) -> a catalog text in the patient's language."""
    months = message("month_names").split()
    return message(
        "when",
        weekday=message(f"weekday_{local.weekday()}"),
        day=local.day,
        month=months[local.month - 1],
        month_num=local.month,
        time=local.strftime("%H:%M"),
    )


@dataclass(frozen=True)
class Button:
    text: str
    data: str


@dataclass(frozen=True)
class EscalationRequest:
    urgency: str
    summary: str
    reasons: tuple[str, ...] = ()


@dataclass
class Turn:
    backend: PracticeBackend
    bundle: Bundle
    clinic: ClinicProfile
    language: Language
    patient: Patient | None
    state: ConversationState
    now: datetime
    tz: ZoneInfo
    buttons: list[Button] = field(default_factory=list)
    escalations: list[EscalationRequest] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    """Kinds of the actions run this turn (`ActionResult.kind`), reported to the client."""
    practice_outage: PracticeUnavailable | None = None
    """The practice system failed before the turn could tell who is writing: nothing that
    needs it runs, and the patient is offered a call-back instead."""
    memory: PatientMemory | None = None
    """What is remembered of the verified patient, read before the turn; None for a visitor,
    or when the memory store could not say."""
    pattern_stats: dict[str, PatternOutcomes] = field(default_factory=dict)
    """Clinic-wide outcomes of each memory pattern, by pattern name."""
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    """What the turn did that memory learns from (`serving.memory.turn_outcomes.visit`
    entries), stored with the reply."""
    _treatments: dict[str, TreatmentType] | None = None
    _invoices: list[InvoiceSummary] | None = None
    _providers: list[Provider] | None = None

    def message(self, key: str, **values: object) -> str:
        """A catalog text in the turn's language, with the clinic's details available."""
        return catalog_text(self.bundle, self.clinic, self.language, key, **values)

    def button(self, key: str, data: str) -> None:
        self.buttons.append(Button(text=self.message(key), data=data))

    async def treatments(self) -> dict[str, TreatmentType]:
        if self._treatments is None:
            self._treatments = {t.code: t for t in await self.backend.list_treatment_types()}
        return self._treatments

    async def providers(self) -> list[Provider]:
        if self._providers is None:
            self._providers = await self.backend.list_providers()
        return self._providers

    async def provider_names(self) -> tuple[str, ...]:
        """Every provider's name in both languages, as a patient may write it."""
        return tuple(name for p in await self.providers() for name in (p.name, p.name_he))

    async def patient_invoices(self) -> list[InvoiceSummary]:
        """The verified patient's invoices, read once per turn (the tools and the output guard
        both need them); no patient, no invoices."""
        if self.patient is None:
            return []
        if self._invoices is None:
            self._invoices = await self.backend.get_patient_invoices(self.patient.id)
        return self._invoices

    async def treatment_name(self, code: str) -> str:
        treatment = (await self.treatments()).get(code)
        if treatment is None:
            return code
        return treatment.name_he if self.language == "he" else treatment.name.lower()

    def day(self, day: date) -> str:
        """A day as patients read it, e.g. "Tue 1 Dec"."""
        months = self.message("month_names").split()
        return self.message(
            "day_label",
            weekday=self.message(f"weekday_{day.weekday()}"),
            day=day.day,
            month=months[day.month - 1],
            month_num=day.month,
        )

    def when(self, moment: datetime) -> str:
        """A clinic-local time as patients read it, e.g. "Tue 1 Dec at 10:00"."""
        return local_when(self.message, moment.astimezone(self.tz))

    def provider(self, name: str, name_he: str) -> str:
        return name_he if self.language == "he" else name
