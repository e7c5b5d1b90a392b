"""`PracticeBackend`: everything the assistant may do in the clinic's practice system.

Every patient-scoped method takes the `patient_id` of the verified patient and refuses records
that belong to anyone else (they are reported as not found, so ids cannot be probed).
Times are timezone-aware; dates are clinic-local dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, runtime_checkable

from serving.practice.models import (
    Allergy,
    Appointment,
    InvoiceDetails,
    InvoiceSummary,
    Patient,
    PatientNote,
    Provider,
    Slot,
    TreatmentPlan,
    TreatmentType,
)
from serving.scheduling.opening import ClinicHours
from serving.scheduling.request import SlotRequest


@runtime_checkable
class PracticeBackend(Protocol):
    async def search_patient(
        self, *, phone: str | None = None, name: str | None = None, email: str | None = None
    ) -> list[Patient]:
        """Patients matching every given criterion; phones compare in E.164 form."""
        ...

    async def get_patient(self, patient_id: int) -> Patient: ...

    async def list_providers(self) -> list[Provider]: ...

    def forget_setup(self) -> None:
        """Drop any copy kept of the clinic's set-up (providers), so the next read sees a
        change just made; a backend that keeps none does nothing."""
        ...

    async def list_treatment_types(self) -> list[TreatmentType]: ...

    async def clinic_hours(self, provider_id: int | None = None) -> ClinicHours:
        """The opening hours the slot search works within: the active providers' weekly
        windows (one provider's with `provider_id`; UnknownProvider if there is no such active
        provider) and the calendar of closures (`serving.scheduling.opening`)."""
        ...

    async def get_patient_invoices(self, patient_id: int) -> list[InvoiceSummary]: ...

    async def get_invoice_details(self, patient_id: int, invoice_number: str) -> InvoiceDetails: ...

    async def get_available_slots(
        self,
        treatment_code: str,
        date_from: date,
        date_to: date,
        *,
        provider_id: int | None = None,
        limit: int = 20,
        matching: SlotRequest | None = None,
    ) -> list[Slot]:
        """Free start times, earliest first, between two clinic-local dates (inclusive); with
        `matching`, only those its weekdays and start-time window allow (`SlotRequest.unmet`),
        so `limit` counts times the patient can take."""
        ...

    async def create_appointment(
        self,
        patient_id: int,
        treatment_code: str,
        starts_at: datetime,
        *,
        provider_id: int | None = None,
        notes: str | None = None,
    ) -> Appointment:
        """Book; without a provider, the first one free at that time is chosen."""
        ...

    async def reschedule_appointment(
        self,
        patient_id: int,
        appointment_id: int,
        new_starts_at: datetime,
        *,
        provider_id: int | None = None,
    ) -> Appointment: ...

    async def cancel_appointment(
        self, patient_id: int, appointment_id: int, *, reason: str | None = None
    ) -> Appointment: ...

    async def list_patient_appointments(
        self, patient_id: int, *, include_past: bool = False
    ) -> list[Appointment]: ...

    async def appointments_between(
        self, start: datetime, end: datetime, *, provider_id: int | None = None
    ) -> list[Appointment]:
        """Every appointment starting in [start, end), whatever its status and whoever the
        patient, earliest first: the staff calendar's view, never a patient's."""
        ...

    async def get_appointment(self, appointment_id: int) -> Appointment:
        """One appointment whoever the patient (staff use); AppointmentNotFound if none."""
        ...

    async def get_patient_notes(self, patient_id: int) -> list[PatientNote]:
        """Every note on the record, oldest first; `PatientNote.for_patient` tells which were
        written for the patient."""
        ...

    async def get_treatment_plan(self, patient_id: int) -> TreatmentPlan | None:
        """The patient's current plan (active first, else the newest proposed), if any."""
        ...

    async def get_patient_allergies(self, patient_id: int) -> list[Allergy]: ...

    async def add_patient_note(
        self, patient_id: int, body: str, *, author: str, for_patient: bool = False
    ) -> PatientNote:
        """A note on the patient's record: a staff note or transcript, or with `for_patient`
        one written for the patient to read."""
        ...
