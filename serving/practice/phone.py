"""Phone numbers in one canonical form (E.164), so identities match however they were typed."""

from __future__ import annotations

import phonenumbers

from serving.practice.errors import InvalidRequest

# The raw text is deliberately not echoed: errors reach logs, and a mistyped number is still
# personal data.
_NOT_A_PHONE = (
    "not a valid phone number: use the international form (+972501234567) "
    "or the Israeli local form (050-123-4567)"
)


def normalize_phone(raw: str, default_region: str = "IL") -> str:
    """E.164 form of `raw`; Israeli local forms such as `050-123-4567` are read as +972.

    Raises `InvalidRequest` for anything that is not a valid, dialable number.
    """
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidRequest("a phone number is required (at most 32 characters)")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidRequest(_NOT_A_PHONE) from None
    # Possible (right length for its country) rather than "valid": validity depends on the
    # carrier-range metadata shipped with the library, which lags real allocations.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidRequest(_NOT_A_PHONE)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def national_digits(e164: str) -> str:
    """The digits of a number as dialled inside its country (+972501234567 → 501234567): the
    part every written form of it contains, in order, whatever prefix or separators it has."""
    return str(phonenumbers.parse(e164).national_number)
