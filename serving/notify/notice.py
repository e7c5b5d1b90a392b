"""What a transport sends, what it answers, and the interface every transport implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SMS_MAX_CHARS = 1600
"""Twilio's limit for one message body; longer bodies are refused, never cut."""


@dataclass(frozen=True)
class Notice:
    """One short notice to an on-call dentist, in the forms each channel needs."""

    subject: str
    """The e-mail subject line."""
    text: str
    """The full text: the e-mail body (plain text, UTF-8) and the Telegram message."""
    short: str
    """The SMS body, at most `SMS_MAX_CHARS` characters."""

    def __post_init__(self) -> None:
        if len(self.short) > SMS_MAX_CHARS:
            raise ValueError(
                f"the SMS text has {len(self.short)} characters; at most {SMS_MAX_CHARS}"
            )


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send.

    `error` is short and safe to log or show an operator: it never holds the notice's text, the
    recipient's address, phone or chat id, or a credential.
    """

    delivered: bool
    external_id: str | None = None
    """The provider's id: SMTP Message-ID, Twilio message SID, Telegram message_id."""
    error: str | None = None
    retryable: bool = False
    """A network error, timeout, 5xx or 429: another try later may succeed."""


class Transport(Protocol):
    """Sends a notice over one channel. A delivery failure is returned, never raised."""

    channel: str
    """"email", "sms" or "telegram"."""

    async def send(self, to: str, notice: Notice) -> Delivery:
        """Send `notice` to `to`: an e-mail address, an E.164 phone, or a Telegram chat id."""
        ...

    async def close(self) -> None:
        """Release connections; the transport is not used afterwards."""
        ...
