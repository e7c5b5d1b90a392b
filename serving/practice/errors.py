"""Errors of the practice boundary. Each message is one a clinic operator (or the assistant,
rephrasing it for a patient) can act on. Backends map their lower-level errors (SQLAlchemy,
odoorpc) into these; callers never see the lower library's types."""

from __future__ import annotations


class PracticeError(Exception):
    """Base of every error raised through `PracticeBackend`."""

    code = "practice_error"


class InvalidRequest(PracticeError):
    """The request itself is malformed: a bad phone number, an empty name, a reversed range."""

    code = "invalid_request"


class PatientNotFound(PracticeError):
    """No patient matches, or the patient is not the one this request is bound to."""

    code = "patient_not_found"


class InvoiceNotFound(PracticeError):
    """No invoice with that number belongs to the patient."""

    code = "invoice_not_found"


class AppointmentNotFound(PracticeError):
    """No appointment with that id belongs to the patient."""

    code = "appointment_not_found"


class UnknownTreatmentType(PracticeError):
    """The treatment type code is not one the clinic offers."""

    code = "unknown_treatment_type"


class UnknownProvider(PracticeError):
    """The provider does not exist, is inactive, or does not perform the treatment."""

    code = "unknown_provider"


class SlotUnavailable(PracticeError):
    """The time cannot be booked: in the past, already taken, or beyond the booking horizon."""

    code = "slot_unavailable"


class TimeInPast(SlotUnavailable):
    """The requested time has passed or is closer than the clinic's minimum booking notice."""

    code = "time_in_past"


class OutsideWorkingHours(SlotUnavailable):
    """The time falls outside the provider's working hours."""

    code = "outside_working_hours"


class ClinicClosed(SlotUnavailable):
    """The clinic is closed then: Shabbat, a public holiday or a configured closure."""

    code = "clinic_closed"


class PracticeUnavailable(PracticeError):
    """The practice system cannot be reached or failed; retrying later may help."""

    code = "practice_unavailable"


class PracticeMisconfigured(PracticeUnavailable):
    """The practice system answers but refuses or lacks what the assistant needs: a refused API
    key, missing access rights, no mapping for allergies or plans. The message names what to
    fix; a patient hears the same as for an outage."""

    code = "practice_misconfigured"
