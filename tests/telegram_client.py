"""A Telegram user's side for channel tests: updates posted to the app's webhook exactly as
Telegram posts them, and the bot's answers read from the Bot API stand-in."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from serving.app import create_app
from serving.db.engine import Database
from serving.db.telegram_models import TelegramChat
from serving.db.types import utcnow
from serving.settings import Settings
from tests.asgi import running
from tests.conftest import make_settings
from tests.telegram_stand_in import TOKEN, BotApiStandIn, Call

SECRET = "webhook-secret_123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_update_ids = itertools.count(10_000)


def telegram_settings(database_url: str, bot_api: BotApiStandIn, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base_url=bot_api.base_url,
        **overrides,
    )


@dataclass
class Bot:
    """The app under test, its in-process HTTP client and the Bot API stand-in."""

    app: FastAPI
    client: httpx.AsyncClient
    api: BotApiStandIn

    async def post(self, update: dict[str, Any], *, secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.client.post("/telegram/webhook", json=update, headers=headers)

    async def deliver(self, update: dict[str, Any]) -> None:
        response = await self.post(update)
        assert response.status_code == 200, response.text

    async def drain(self) -> None:
        await self.app.state.telegram.worker.drain()


async def hold_chat(database: Database, chat_id: int, *, lease: timedelta) -> None:
    """The chat leased by another replica (one that then crashes) before any of its updates is
    stored, so the app's own worker, polling in the background, cannot take it first."""
    async with database.transaction() as session:
        session.add(
            TelegramChat(
                chat_id=chat_id, lease_owner="replica-that-crashed", lease_until=utcnow() + lease
            )
        )


async def expire_lease(database: Database, chat_id: int) -> None:
    """The crashed replica's lease runs out."""
    async with database.transaction() as session:
        await session.execute(
            update(TelegramChat)
            .where(TelegramChat.chat_id == chat_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )


@asynccontextmanager
async def telegram_bot(settings: Settings, bot_api: BotApiStandIn) -> AsyncIterator[Bot]:
    app = create_app(settings)
    async with running(app) as client:
        yield Bot(app, client, bot_api)


@dataclass
class TelegramUser:
    """A patient in a private chat with the bot (chat id = user id)."""

    bot: Bot
    user_id: int
    language_code: str = "en"
    first_name: str = "Pat"
    seen: int = field(default=0)

    def _from(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }

    def message_update(self, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(_update_ids),
            "message": {
                "message_id": next(_update_ids),
                "date": int(time.time()),
                "chat": {"id": self.user_id, "type": "private", "first_name": self.first_name},
                "from": self._from(),
                **content,
            },
        }

    def callback_update(self, call: Call, data: str) -> dict[str, Any]:
        return {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": f"cq-{next(_update_ids)}",
                "from": self._from(),
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": call.message_id or 1,
                    "date": int(time.time()),
                    "chat": {"id": self.user_id, "type": "private"},
                    "text": call.text,
                },
            },
        }

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Deliver an update, let the worker answer, and return the calls made to this chat
        since the last time (in order)."""
        await self.bot.deliver(update)
        await self.bot.drain()
        return self.new_calls()

    def new_calls(self) -> list[Call]:
        mine = [
            call
            for call in self.bot.api.sent()
            if call.chat_id == self.user_id or call.method == "answerCallbackQuery"
        ]
        fresh, self.seen = mine[self.seen :], len(mine)
        return fresh

    async def say(self, text: str) -> list[Call]:
        return await self.send(self.message_update(text=text))

    async def share_contact(self, phone: str, *, owner: int | None = None) -> list[Call]:
        contact = {
            "phone_number": phone,
            "first_name": "Someone",
            "user_id": self.user_id if owner is None else owner,
        }
        return await self.send(self.message_update(contact=contact))

    async def press(self, calls: list[Call], prefix: str, index: int = 0) -> list[Call]:
        """Press the `index`-th inline button whose data starts with `prefix`."""
        for call in reversed(calls):
            matching = [data for _, data in call.buttons if data.startswith(prefix)]
            if len(matching) > index:
                return await self.send(self.callback_update(call, matching[index]))
        raise AssertionError(f"no {prefix!r} button in {[c.buttons for c in calls]}")


def texts(calls: list[Call]) -> str:
    return "\n".join(call.text for call in calls if call.method == "sendMessage")
