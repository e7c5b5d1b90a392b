"""Sending to the Bot API: retries that respect Telegram's limits, and a record of what could
not be delivered.

- 429 Too Many Requests: wait the `retry_after` Telegram asks for, then send again.
- Network errors, timeouts and 5xx answers: a few retries with growing pauses.
- Anything else (a blocked bot, a bad request), or retries used up: the call is stored in
  `telegram_delivery_failures` for the admin view and logged without its content; it is never
  silently dropped. Calls marked not essential (answering a button press, removing an old
  keyboard, the typing indicator) are only logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from telegram import Bot, InputFile, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from serving.channels.telegram.files import FileIds, asset_path
from serving.channels.telegram.keyboards import markup
from serving.db.engine import Database
from serving.db.telegram_models import TelegramDeliveryFailure

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
REDACTED_TEXT = "(sent; not kept: it held a secret)"
"""The text a sent secret call keeps in the outbox."""


@dataclass(frozen=True)
class Outgoing:
    """One Bot API call planned for an update, as stored in its outbox.

    `method` is the python-telegram-bot method (`send_message`, `send_venue`, `send_photo`,
    `answer_callback_query`, `edit_message_reply_markup`, `leave_chat`); `params` are its
    arguments as JSON (keyboards as specs, see keyboards.py; photos as an asset name, or as
    base64 `upload` with its `filename` for an image the assistant sends).
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    essential: bool = True
    secret: bool = False
    """The call carries a secret (a patient's link to their own data): the outbox keeps it
    until it is sent, then only `sent_copy` (its chat, a placeholder for its text)."""

    def to_json(self) -> dict[str, Any]:
        data = {"method": self.method, "params": self.params, "essential": self.essential}
        if self.secret:
            data["secret"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        return cls(
            method=str(data["method"]),
            params=dict(data["params"]),
            essential=bool(data.get("essential", True)),
            secret=bool(data.get("secret", False)),
        )

    def sent_copy(self) -> Outgoing:
        """What the outbox keeps of a secret call once it is sent: its method and chat."""
        return replace(self, params={"chat_id": self.params.get("chat_id"), "text": REDACTED_TEXT})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Sends of one call at most, the first included."""
    backoff_seconds: tuple[float, ...] = (0.5, 2.0, 5.0)
    max_retry_after_seconds: float = 60.0
    """A longer wait than this asked by a 429 is not waited for: the call is recorded instead."""


class Sender:
    def __init__(
        self,
        bot: Bot,
        database: Database,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._db = database
        self._files = FileIds(database)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    async def deliver(self, outgoing: Outgoing, *, update_id: int | None = None) -> bool:
        """Send `outgoing` with retries; False when it could not be delivered (then recorded)."""
        policy = self._policy
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._call(outgoing)
                return True
            except RetryAfter as error:
                wait = _retry_after_seconds(error)
                if attempt >= policy.attempts or wait > policy.max_retry_after_seconds:
                    await self._record(outgoing, error, attempt, update_id)
                    return False
                logger.info("telegram asked to slow down", extra={"retry_after": wait})
                await self._sleep(wait)
            except BadRequest as error:  # a NetworkError subclass, yet sending again won't help
                await self._record(outgoing, error, attempt, update_id)
                return False
            except NetworkError as error:  # timeouts, connection errors and 5xx answers
                if attempt >= policy.attempts:
                    await self._record(outgoing, error, attempt, update_id)
                    return False
                pause = policy.backoff_seconds[min(attempt, len(policy.backoff_seconds)) - 1]
                await self._sleep(pause)
            except TelegramError as error:
                await self._record(outgoing, error, attempt, update_id)
                return False

    async def typing(self, chat_id: int) -> None:
        """Show "typing…" while the reply is prepared (best effort: never retried)."""
        try:
            await self._bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:
            logger.info("typing indicator not shown", extra={"error": type(error).__name__})

    async def _call(self, outgoing: Outgoing) -> None:
        bot, params = self._bot, outgoing.params
        method = outgoing.method
        if method == "send_message":
            await bot.send_message(
                params["chat_id"],
                params["text"],
                parse_mode=ParseMode.HTML,
                reply_markup=markup(params.get("keyboard")),
            )
        elif method == "send_venue":
            await bot.send_venue(
                params["chat_id"],
                latitude=params["latitude"],
                longitude=params["longitude"],
                title=params["title"],
                address=params["address"],
            )
        elif method == "send_photo" and "upload" in params:
            upload = InputFile(base64.b64decode(params["upload"]), filename=params["filename"])
            await self._photo(params, upload)
        elif method == "send_photo":
            await self._send_asset(params)
        elif method == "answer_callback_query":
            await bot.answer_callback_query(params["callback_query_id"], text=params.get("text"))
        elif method == "edit_message_reply_markup":
            await bot.edit_message_reply_markup(params["chat_id"], params["message_id"])
        elif method == "leave_chat":
            await bot.leave_chat(params["chat_id"])
        else:
            raise ValueError(f"unknown outbox method {method}")

    async def _send_asset(self, params: dict[str, Any]) -> None:
        """By cached file id when there is one (re-uploaded should Telegram reject the id),
        otherwise as an upload whose file id is then cached."""
        name = params["asset"]
        file_id = await self._files.get(name)
        if file_id is not None:
            try:
                await self._photo(params, file_id)
                return
            except BadRequest:
                logger.warning("cached telegram file id rejected; uploading again")
                await self._files.forget(name)
        path = asset_path(name)
        message = await self._photo(params, InputFile(path.read_bytes(), filename=path.name))
        if message.photo:
            await self._files.remember(name, message.photo[-1].file_id)

    async def _photo(self, params: dict[str, Any], photo: str | InputFile) -> Message:
        return await self._bot.send_photo(
            params["chat_id"],
            photo,
            caption=params.get("caption"),
            parse_mode=ParseMode.HTML,
        )

    async def _record(
        self, outgoing: Outgoing, error: TelegramError, attempts: int, update_id: int | None
    ) -> None:
        reason = _describe(error, self._bot.token)
        logger.warning(
            "telegram call not delivered",
            extra={"method": outgoing.method, "error": type(error).__name__, "attempts": attempts},
        )
        if not outgoing.essential:
            return
        async with self._db.transaction() as session:
            session.add(
                TelegramDeliveryFailure(
                    update_id=update_id,
                    chat_id=outgoing.params.get("chat_id"),
                    method=outgoing.method,
                    request=_recorded(outgoing.params),
                    error=reason,
                    attempts=attempts,
                )
            )


def _recorded(params: dict[str, Any]) -> dict[str, Any]:
    """The call as kept in the failure record: an uploaded image by its name and size, not
    its bytes (up to megabytes, in a row the admin view lists)."""
    if "upload" not in params:
        return params
    kept = {key: value for key, value in params.items() if key != "upload"}
    kept["upload_bytes"] = len(base64.b64decode(params["upload"]))
    return kept


def _retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after  # a timedelta with PTB_TIMEDELTA (bot.py), else seconds
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _describe(error: TelegramError, token: str) -> str:
    """The error for the failure record, with the bot token masked should it appear."""
    text = f"{type(error).__name__}: {error.message}"[:500]
    return text.replace(token, "***") if token else text
