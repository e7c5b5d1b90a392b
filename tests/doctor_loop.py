"""Shared by the dentist-in-the-loop tests: the app's settings with every notification
channel pointed at its local stand-in (SMTP server, Twilio, Telegram Bot API), the links the
notices carry, and waiting for something to happen."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from serving.settings import Settings
from tests.smtp_server import SmtpServer
from tests.telegram_client import SECRET, SECRET_HEADER, telegram_settings
from tests.telegram_stand_in import BotApiStandIn
from tests.twilio_stand_in import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

T = TypeVar("T")

DOCTOR_EMAIL = "doctor@smile-clinic.example"
DOCTOR_PHONE = "+972500000001"
DOCTOR_CHAT = 9001
CLINIC_SMS_NUMBER = "+15005550006"
_update_ids = itertools.count(50_000)
LINK = re.compile(r"(https?://[^\s/]+)/doctor/([A-Za-z0-9_-]{43})")


def escalation_settings(
    database_url: str,
    *,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
    public_base_url: str = "http://clinic.test",
    **overrides: object,
) -> Settings:
    """The demo clinic's app with e-mail, SMS and Telegram notices on."""
    values: dict[str, object] = {
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_from": "alerts@smile-clinic.example",
        "smtp_starttls": False,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": CLINIC_SMS_NUMBER,
        "twilio_api_base_url": twilio.base_url,
        "public_base_url": public_base_url,
        "escalation_poll_seconds": 0.1,
        **overrides,
    }
    return telegram_settings(database_url, bot_api, **values)


def tokens_in(text: str) -> list[str]:
    return [match.group(2) for match in LINK.finditer(text)]


def email_texts(smtp: SmtpServer) -> list[str]:
    return [
        str(received.message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        for received in smtp.received
    ]


def doctor_chat_texts(bot_api: BotApiStandIn) -> list[str]:
    return [call.text for call in bot_api.sent("sendMessage", DOCTOR_CHAT)]


async def eventually(
    check: Callable[[], T | Awaitable[T]], *, seconds: float = 15.0, what: str = ""
) -> T:
    """`check()`'s first truthy result (awaited if it is a coroutine), polling; AssertionError
    after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


def wait_for(check: Callable[[], T], *, seconds: float = 20.0, what: str = "") -> T:
    """`eventually` for synchronous tests (a browser, a child process)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


@dataclass
class TelegramPatient:
    """A patient on Telegram, as a served app sees one: updates posted to its webhook (over
    HTTP, like Telegram), answers read from the Bot API stand-in."""

    base_url: str
    bot_api: BotApiStandIn
    user_id: int

    def _post(self, content: dict[str, Any]) -> None:
        update = {
            "update_id": next(_update_ids),
            "message": {
                "message_id": next(_update_ids),
                "date": int(time.time()),
                "chat": {"id": self.user_id, "type": "private", "first_name": "Pat"},
                "from": {
                    "id": self.user_id,
                    "is_bot": False,
                    "first_name": "Pat",
                    "language_code": "en",
                },
                **content,
            },
        }
        answer = httpx.post(
            f"{self.base_url}/telegram/webhook",
            json=update,
            headers={SECRET_HEADER: SECRET},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def say(self, text: str) -> None:
        self._post({"text": text})

    def share_contact(self, phone: str) -> None:
        self._post(
            {"contact": {"phone_number": phone, "first_name": "Pat", "user_id": self.user_id}}
        )

    def received(self) -> list[str]:
        """The texts the bot sent this patient, in order."""
        return [call.text for call in self.bot_api.sent("sendMessage", self.user_id)]

    def wait_for_text(self, fragment: str, *, seconds: float = 20.0) -> str:
        return wait_for(
            lambda: next((text for text in self.received() if fragment in text), None),
            seconds=seconds,
            what=f"a message to the patient containing {fragment!r}",
        )
