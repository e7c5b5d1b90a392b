"""The python-telegram-bot client the channel talks to the Bot API with."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from telegram import Bot
from telegram.request import HTTPXRequest

from serving.settings import Settings

LONG_POLL_SECONDS = 25
"""How long one `getUpdates` call waits for updates (development polling)."""


class TelegramNotConfigured(RuntimeError):
    """TELEGRAM_BOT_TOKEN (or, for the webhook, TELEGRAM_WEBHOOK_SECRET) is not set."""


def quiet_http_logs() -> None:
    """httpx logs every request URL at INFO, and a Bot API URL contains the bot token;
    python-telegram-bot logs request parameters (patient messages) at DEBUG."""
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class BotClient:
    """The Bot and its two HTTP connection pools (API calls, and long polling).

    `Bot.initialize()` is deliberately not used: it calls getMe at start-up (a replica must
    start while Telegram is unreachable) and puts the token into its error message.
    """

    bot: Bot
    requests: tuple[HTTPXRequest, HTTPXRequest]

    async def close(self) -> None:
        await asyncio.gather(*(request.shutdown() for request in self.requests))


def build_bot(settings: Settings) -> BotClient:
    """A Bot for `settings`' token and API base URL; raises TelegramNotConfigured without one."""
    token = settings.telegram_bot_token
    if token is None or not token.get_secret_value():
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")
    quiet_http_logs()
    # Opt in to python-telegram-bot's coming timedelta durations (RetryAfter.retry_after);
    # without it, every 429 answer raises a deprecation warning inside the library.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    calls = HTTPXRequest(
        connection_pool_size=32,
        connect_timeout=5.0,
        read_timeout=10.0,
        write_timeout=10.0,
        pool_timeout=5.0,
        media_write_timeout=30.0,
    )
    polling = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=5.0,
        read_timeout=LONG_POLL_SECONDS + 10.0,
        write_timeout=10.0,
        pool_timeout=5.0,
    )
    bot = Bot(
        token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        request=calls,
        get_updates_request=polling,
    )
    return BotClient(bot=bot, requests=(calls, polling))
