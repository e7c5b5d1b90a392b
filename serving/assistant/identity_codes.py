"""The web chat's proof of identity: a 6-digit code sent by SMS to the phone the visitor types.

`IdentityCodes.send_code` sends a fresh code (it replaces any earlier code of that phone);
`IdentityCodes.verify_code` checks the code the visitor typed back and, when it is right, binds
the visitor's conversation through `Assistant.verify_identity` with proof `sms_code`, exactly as
a Telegram contact binds one: to the single patient with that phone, or to nobody.

Whether a phone belongs to a patient is never revealed before its code is typed: any dialable
number gets a code, so the answer (and the time it takes) is the same; the practice system is
asked only once the code is right. A code works for `web_identity_code_seconds`, for the visitor
who asked for it only, once; its last allowed wrong try uses it up. Codes sent are limited per
phone and per client address (`serving.ratelimit`). Only hashes are stored
(`serving.db.identity_models`); neither the phone nor the code is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select

from serving.assistant.identity import IdentityProof, InvalidPhone, Verification
from serving.assistant.service import Assistant
from serving.db.engine import Database
from serving.db.identity_models import WebIdentityCode
from serving.db.types import utcnow
from serving.language import Language, as_language
from serving.notify import Notice, Transport
from serving.practice.errors import InvalidRequest
from serving.practice.phone import normalize_phone
from serving.ratelimit import RateKey, RateLimited, RateLimiter, Refusal

logger = logging.getLogger(__name__)

CHANNEL: Final = "web"
CODE_DIGITS: Final = 6

# The code comes first, so a phone's notification preview shows it. Written for this module,
# in both languages the chat speaks; `{minutes}` is the code's validity.
CODE_SMS: Final[dict[Language, str]] = {
    "en": "{code} is your code to verify your phone in the chat of {clinic}. It works for "
    "{minutes} minutes. Do not share it with anyone.",
    "he": "{code} הוא הקוד לאימות הטלפון שלך בצ׳אט של {clinic}. הקוד תקף {minutes} דקות. "
    "אין למסור אותו לאף אחד.",
}
CODE_SMS_SUBJECT: Final[dict[Language, str]] = {
    "en": "Your verification code",
    "he": "קוד האימות שלך",
}


class PhoneVerificationUnavailable(RuntimeError):
    """No SMS transport is configured: phone verification is not offered."""

    def __init__(self) -> None:
        super().__init__("phone verification is not available")


class CodeNotSent(RuntimeError):
    """The SMS provider did not take the code; nothing is left to verify (send again)."""

    def __init__(self) -> None:
        super().__init__("the code could not be sent: try again in a moment")


class TooManyCodes(RateLimited):
    """Too many codes asked for this phone or from this address in the window."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal, counted="codes requested")


class CodeRejected(ValueError):
    """The typed code binds nothing; `reason` says why (the API's error code)."""

    reason: str = "code_rejected"


class WrongCode(CodeRejected):
    """Not the code that was sent; it may be tried again `attempts_left` more times."""

    reason = "wrong_code"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"the code is not right: {attempts_left} more tries of this code")
        self.attempts_left = attempts_left


class CodeExpired(CodeRejected):
    """No code is waiting for this phone and visitor: never sent, used already, or expired."""

    reason = "code_expired"

    def __init__(self) -> None:
        super().__init__("no valid code for this phone: ask for a new code")


class CodeUsedUp(CodeRejected):
    """The last allowed wrong try: the code no longer works."""

    reason = "too_many_attempts"

    def __init__(self) -> None:
        super().__init__("too many wrong codes: ask for a new code")


@dataclass(frozen=True)
class CodePolicy:
    """How long a code works, and how many tries it allows."""

    valid_for: timedelta
    attempts: int

    @property
    def minutes(self) -> int:
        return max(1, int(self.valid_for.total_seconds()) // 60)


@dataclass(frozen=True)
class CodeSent:
    """What the visitor is told after a send: the same whoever the phone belongs to."""

    expires_in_seconds: int


class IdentityCodes:
    """Sends and checks the web chat's SMS codes; see the module's docstring."""

    def __init__(
        self,
        *,
        database: Database,
        assistant: Assistant,
        sms: Transport | None,
        clinic_name: Callable[[Language], str],
        policy: CodePolicy,
        phone_limiter: RateLimiter,
        address_limiter: RateLimiter,
        phone_region: str = "IL",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._assistant = assistant
        self._sms = sms
        self._clinic_name = clinic_name
        self._policy = policy
        self._phone_limiter = phone_limiter
        self._address_limiter = address_limiter
        self._region = phone_region
        self._now = clock

    @property
    def available(self) -> bool:
        """Whether codes can be sent (an SMS transport is configured)."""
        return self._sms is not None

    async def send_code(
        self, visitor: str, phone: str, *, language: str, address: str | None
    ) -> CodeSent:
        """Send a new code to `phone` for the web visitor `visitor`, replacing any earlier one.

        Raises PhoneVerificationUnavailable (no SMS transport), InvalidPhone (nothing counted or
        sent), TooManyCodes (over the phone's or the address's limit), CodeNotSent (the SMS
        provider failed; no code is left waiting).
        """
        if self._sms is None:
            raise PhoneVerificationUnavailable
        e164 = self._normalised(phone)
        await self._admit(e164, address)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        salt = secrets.token_hex(16)
        now = self._now()
        fresh = {
            "visitor_key": _sha256(visitor),
            "salt": salt,
            "code_hash": _code_hash(salt, e164, code),
            "attempts": 0,
            "created_at": now,
            "expires_at": now + self._policy.valid_for,
        }
        async with self._database.transaction() as session:
            await session.execute(delete(WebIdentityCode).where(WebIdentityCode.expires_at <= now))
            # One statement, so two sends to one phone at once cannot both insert.
            await session.execute(
                self._database.insert(WebIdentityCode)
                .values(phone_key=_sha256(e164), **fresh)
                .on_conflict_do_update(index_elements=["phone_key"], set_=fresh)
            )
        lang = as_language(language)
        text = CODE_SMS[lang].format(
            code=code, clinic=self._clinic_name(lang), minutes=self._policy.minutes
        )
        delivery = await self._sms.send(
            e164, Notice(subject=CODE_SMS_SUBJECT[lang], text=text, short=text)
        )
        if not delivery.delivered:
            await self._withdraw(e164, salt)
            logger.warning("web identity code not sent", extra={"retryable": delivery.retryable})
            raise CodeNotSent
        logger.info("web identity code sent", extra={"language": lang})
        return CodeSent(expires_in_seconds=int(self._policy.valid_for.total_seconds()))

    async def verify_code(
        self, visitor: str, phone: str, code: str, *, language: str
    ) -> Verification:
        """Check `code` for `phone` and `visitor`; when right, bind the visitor's conversation
        to the single patient with that phone, or to nobody (`Verification.outcome`).

        The code is used up when it is right (it works once) and after its last allowed wrong
        try. Raises PhoneVerificationUnavailable, InvalidPhone (nothing counted), WrongCode,
        CodeExpired, CodeUsedUp, and what `Assistant.verify_identity` raises.
        """
        if self._sms is None:
            raise PhoneVerificationUnavailable
        e164 = self._normalised(phone)
        now = self._now()
        rejection: CodeRejected | None = None
        async with self._database.transaction() as session:
            row = await session.scalar(
                select(WebIdentityCode)
                .where(
                    WebIdentityCode.phone_key == _sha256(e164),
                    WebIdentityCode.visitor_key == _sha256(visitor),
                )
                .with_for_update()
            )
            if row is None or row.expires_at <= now:
                rejection = CodeExpired()
                if row is not None:
                    await session.delete(row)
            else:
                row.attempts += 1
                if hmac.compare_digest(row.code_hash, _code_hash(row.salt, e164, code)):
                    await session.delete(row)
                elif row.attempts >= self._policy.attempts:
                    rejection = CodeUsedUp()
                    await session.delete(row)
                else:
                    rejection = WrongCode(self._policy.attempts - row.attempts)
        if rejection is not None:
            logger.info("web identity code refused", extra={"reason": rejection.reason})
            raise rejection
        return await self._assistant.verify_identity(
            CHANNEL, visitor, phone=e164, proof=IdentityProof.SMS_CODE, language_hint=language
        )

    def _normalised(self, phone: str) -> str:
        try:
            return normalize_phone(phone, self._region)
        except InvalidRequest as error:
            raise InvalidPhone(str(error)) from None

    async def _admit(self, e164: str, address: str | None) -> None:
        """Count the send against the address, then the phone; a refusal at the address does
        not count against the phone (a flood from one place cannot lock a patient out)."""
        if address is not None:
            refusal = await self._address_limiter.hit([RateKey.address(address)])
            if refusal is not None:
                self._log_refusal(refusal)
                raise TooManyCodes(refusal)
        refusal = await self._phone_limiter.hit([RateKey.phone(e164)])
        if refusal is not None:
            self._log_refusal(refusal)
            raise TooManyCodes(refusal)

    @staticmethod
    def _log_refusal(refusal: Refusal) -> None:
        if refusal.first:  # once per key and window
            logger.info(
                "web identity codes refused by a rate limit until the window ends",
                extra={"scope": refusal.scope.value},
            )

    async def _withdraw(self, e164: str, salt: str) -> None:
        """Forget the code that could not be sent (unless a newer one replaced it)."""
        async with self._database.transaction() as session:
            await session.execute(
                delete(WebIdentityCode).where(
                    WebIdentityCode.phone_key == _sha256(e164), WebIdentityCode.salt == salt
                )
            )


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(salt: str, e164: str, code: str) -> str:
    return hmac.new(bytes.fromhex(salt), f"{e164}:{code}".encode(), hashlib.sha256).hexdigest()
