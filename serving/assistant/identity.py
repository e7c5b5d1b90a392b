"""Who is writing: a phone number a channel proved, matched to one patient of the practice.

A channel never looks patients up itself. It tells the assistant the phone and how it was
proven (`IdentityProof`); the assistant normalises the phone, searches the practice system and
binds the conversation to the single patient it finds, or unbinds it. Every assertion replaces
the earlier one: a phone that matches nobody, several patients or another patient never keeps
the previous patient bound (a kiosk or a shared tablet must not show the last patient's data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from serving.practice.backend import PracticeBackend
from serving.practice.errors import InvalidRequest, PracticeError
from serving.practice.models import Patient
from serving.practice.phone import normalize_phone

logger = logging.getLogger(__name__)


class IdentityProof(StrEnum):
    """How a channel proved that the phone is the writer's own."""

    TELEGRAM_OWN_CONTACT = "telegram_own_contact"
    """A contact shared in Telegram whose `user_id` is the sender's own (Telegram vouches
    that the number belongs to that account)."""
    INTEGRATION_KEY = "integration_key"
    """A request carrying the integration key: the clinic's own system vouches for the phone
    on every call."""
    SMS_CODE = "sms_code"
    """The web chat visitor typed the code sent by SMS to the phone (`identity_codes`)."""


PROOF_OF_CHANNEL: dict[str, IdentityProof] = {
    "telegram": IdentityProof.TELEGRAM_OWN_CONTACT,
    "api": IdentityProof.INTEGRATION_KEY,
    "web": IdentityProof.SMS_CODE,
}
"""The only proof each channel may assert; channels not listed cannot assert an identity."""


class VerificationOutcome(StrEnum):
    VERIFIED = "verified"
    """Exactly one patient has this phone: the conversation is bound to them."""
    UNKNOWN = "unknown"
    """No single patient has this phone: the conversation is bound to nobody."""
    INVALID_PHONE = "invalid_phone"
    """The proven phone is not a dialable number: the conversation is bound to nobody."""


@dataclass(frozen=True)
class IdentityClaim:
    """An identity a channel asserts with a message: the phone (None: nobody) and its proof."""

    phone: str | None
    proof: IdentityProof


@dataclass(frozen=True)
class Verification:
    """What a verification found, as a channel may show it (no phone, no record ids)."""

    outcome: VerificationOutcome
    language: str
    """The conversation's language, for the channel's reply."""
    name: str | None = None
    """The verified patient's first name in that language, for a greeting."""

    @property
    def verified(self) -> bool:
        return self.outcome is VerificationOutcome.VERIFIED


class InvalidPhone(ValueError):
    """The phone sent with a keyed request is not a phone number (nothing was changed)."""


class UnprovenIdentity(ValueError):
    """The channel asserted an identity with a proof it cannot give."""


class IdentityCheckUnavailable(RuntimeError):
    """The practice system could not be asked who the claimed patient is; the turn is then
    answered anonymously and the binding cleared (`Assistant.respond`)."""


def require_proof(channel: str, proof: IdentityProof) -> None:
    if PROOF_OF_CHANNEL.get(channel) is not proof:
        raise UnprovenIdentity(f"the {channel} channel cannot prove an identity by {proof.value}")


async def find_patient(
    backend: PracticeBackend, phone: str | None, region: str
) -> tuple[VerificationOutcome, Patient | None]:
    """The single patient with `phone`, normalised in `region` (None phone: nobody).

    Raises IdentityCheckUnavailable when the practice system fails.
    """
    if phone is None:
        return VerificationOutcome.UNKNOWN, None
    try:
        normalised = normalize_phone(phone, region)
    except InvalidRequest:
        return VerificationOutcome.INVALID_PHONE, None
    try:
        matches = await backend.search_patient(phone=normalised)
    except PracticeError as error:
        logger.warning("practice system unavailable", extra={"error": type(error).__name__})
        raise IdentityCheckUnavailable("the practice system cannot be reached") from None
    if len(matches) != 1:
        return VerificationOutcome.UNKNOWN, None
    return VerificationOutcome.VERIFIED, matches[0]


def first_name(patient: Patient, language: str) -> str:
    return patient.name_he if language == "he" and patient.name_he else patient.first_name
