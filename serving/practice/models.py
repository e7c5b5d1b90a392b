"""What the practice boundary returns: plain immutable records, independent of any backend.

They map onto Odoo as: Patient = res.partner, Appointment = calendar.event,
Invoice = account.move (out_invoice, or out_refund with negative amounts),
PatientNote = mail.message on the partner.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

Language = Literal["he", "en"]
AppointmentStatus = Literal["scheduled", "cancelled", "completed", "no_show"]
InvoiceStatus = Literal["paid", "partially_paid", "unpaid"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Patient(Record):
    id: int
    first_name: str
    last_name: str
    name_he: str | None
    phone: str
    email: str | None
    language: Language
    date_of_birth: date | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Provider(Record):
    id: int
    name: str
    name_he: str
    role: Literal["dentist", "hygienist"]


class TreatmentType(Record):
    code: str
    name: str
    name_he: str
    duration_minutes: int
    price: Decimal
    currency: str


class Slot(Record):
    """A bookable start time for one treatment with one provider."""

    provider_id: int
    provider_name: str
    provider_name_he: str
    treatment_code: str
    starts_at: datetime
    ends_at: datetime


class Appointment(Record):
    id: int
    patient_id: int
    provider_id: int
    provider_name: str
    provider_name_he: str
    treatment_code: str
    treatment_name: str
    treatment_name_he: str
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus


class InvoiceSummary(Record):
    """An invoice, or a refund (credit note): then `amount_total` and `amount_paid` are
    negative, what the clinic owes the patient and what it has paid back."""

    number: str
    issued_on: date
    due_on: date
    currency: str
    amount_total: Decimal
    amount_paid: Decimal

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount_due(self) -> Decimal:
        return self.amount_total - self.amount_paid

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> InvoiceStatus:
        # A refund (credit note) counts down: -300 total, -300 paid is a refund paid out.
        sign = -1 if self.amount_total < 0 else 1
        total, paid = sign * self.amount_total, sign * self.amount_paid
        if paid >= total:
            return "paid"
        return "partially_paid" if paid > 0 else "unpaid"


class InvoiceLine(Record):
    description: str
    quantity: int
    unit_price: Decimal

    @computed_field  # type: ignore[prop-decorator]
    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


class InvoiceDetails(InvoiceSummary):
    lines: tuple[InvoiceLine, ...]


class PatientNote(Record):
    id: int
    author: str
    body: str
    created_at: datetime
    for_patient: bool = False
    """Written for the patient to read; staff notes and transcripts are not."""


class Allergy(Record):
    substance: str
    reaction: str | None
    severity: str


class TreatmentPlanItem(Record):
    treatment_code: str
    treatment_name: str
    treatment_name_he: str
    tooth: str | None
    status: Literal["planned", "scheduled", "done"]
    estimated_price: Decimal


class TreatmentPlan(Record):
    id: int
    title: str
    status: Literal["proposed", "active", "completed"]
    items: tuple[TreatmentPlanItem, ...]
