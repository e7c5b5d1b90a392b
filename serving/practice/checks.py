"""The checks every practice backend makes of a request before it reaches the practice system,
with the same limits and the same messages whichever backend answers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from serving.practice.errors import InvalidRequest, TimeInPast, UnknownTreatmentType

MAX_SLOT_SEARCH_DAYS = 62
MAX_SEARCH_RESULTS = 20
MAX_NOTE_LENGTH = 4000
MAX_AUTHOR_LENGTH = 120
MAX_NAME_SEARCH_LENGTH = 120
MAX_CANCEL_REASON_LENGTH = 200
MAX_INVOICE_NUMBER_LENGTH = 40


def require_search_criteria(phone: str | None, name: str | None, email: str | None) -> None:
    if phone is None and name is None and email is None:
        raise InvalidRequest("search by phone, name or email")


def name_words(name: str) -> list[str]:
    """The lower-case words of a name to search for; every one must match."""
    words = name.strip().lower().split()
    if not words or len(name) > MAX_NAME_SEARCH_LENGTH:
        raise InvalidRequest(f"a name to search for is 1-{MAX_NAME_SEARCH_LENGTH} characters")
    return words


def email_address(email: str) -> str:
    """The address in the form it is compared in (trimmed, lower case)."""
    address = email.strip().lower()
    if "@" not in address or len(address) > 254:
        raise InvalidRequest("not a valid email address")
    return address


def note_text(body: str, author: str) -> tuple[str, str]:
    """A note's text and author, trimmed."""
    text, who = body.strip(), author.strip()
    if not text:
        raise InvalidRequest("a note needs some text")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"a note is at most {MAX_NOTE_LENGTH} characters")
    if not who or len(who) > MAX_AUTHOR_LENGTH:
        raise InvalidRequest(f"a note needs an author (at most {MAX_AUTHOR_LENGTH} characters)")
    return text, who


def appointment_notes(notes: str | None) -> str | None:
    """A booking's notes, trimmed (None when there are none)."""
    if notes is not None and len(notes) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"appointment notes are at most {MAX_NOTE_LENGTH} characters")
    return notes.strip() if notes and notes.strip() else None


def cancel_reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > MAX_CANCEL_REASON_LENGTH:
        raise InvalidRequest(
            f"a cancellation reason is at most {MAX_CANCEL_REASON_LENGTH} characters"
        )
    return reason.strip() if reason and reason.strip() else None


def invoice_number(raw: str) -> str:
    """An invoice number as the practice system writes it (upper case)."""
    number = raw.strip().upper()
    if not number or len(number) > MAX_INVOICE_NUMBER_LENGTH:
        raise InvalidRequest("an invoice number looks like INV/2026/0042")
    return number


def treatment_code(raw: str) -> str:
    """A treatment code as written by a person or a model ("Root Canal") in its stored form."""
    return raw.strip().lower().replace(" ", "_").replace("-", "_")


def unknown_treatment(raw: str, known: Iterable[str]) -> UnknownTreatmentType:
    return UnknownTreatmentType(
        f"unknown treatment type {raw[:40]!r}; the clinic offers: {', '.join(known)}"
    )


def slot_search_days(date_from: date, date_to: date, limit: int, today: date) -> date:
    """The first day a slot search looks at (today when the range starts earlier)."""
    if date_to < date_from:
        raise InvalidRequest("the end date is before the start date")
    if (date_to - date_from).days > MAX_SLOT_SEARCH_DAYS:
        raise InvalidRequest(f"search at most {MAX_SLOT_SEARCH_DAYS} days at a time")
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100")
    if date_to < today:
        raise TimeInPast("those dates have passed; search from today on")
    return max(date_from, today)


def time_range(start: datetime, end: datetime) -> None:
    """A range of moments to list appointments in: it must end after it begins."""
    if end <= start:
        raise InvalidRequest("a time range must end after it begins")
