"""The clinic's practice system behind one protocol: the built-in backend or Odoo."""

from serving.practice.backend import PracticeBackend
from serving.practice.errors import (
    AppointmentNotFound,
    ClinicClosed,
    InvalidRequest,
    InvoiceNotFound,
    OutsideWorkingHours,
    PatientNotFound,
    PracticeError,
    PracticeMisconfigured,
    PracticeUnavailable,
    SlotUnavailable,
    TimeInPast,
    UnknownProvider,
    UnknownTreatmentType,
)

__all__ = [
    "AppointmentNotFound",
    "ClinicClosed",
    "InvalidRequest",
    "InvoiceNotFound",
    "OutsideWorkingHours",
    "PatientNotFound",
    "PracticeBackend",
    "PracticeError",
    "PracticeMisconfigured",
    "PracticeUnavailable",
    "SlotUnavailable",
    "TimeInPast",
    "UnknownProvider",
    "UnknownTreatmentType",
]
