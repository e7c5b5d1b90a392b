"""The one way out (`serving.assistant.Outbox`): a message that does not answer the patient
(a dentist's reply, a reminder) is stored in the conversation and reaches the patient on the
conversation's own channel: an open web chat through its event stream (in process, or through
Redis from another replica), Telegram through the Bot API. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from serving.app import create_app
from serving.assistant import Button, Image, NoChannel, Outbox, Place
from serving.db import models as db
from serving.db.engine import Database
from serving.db.telegram_models import TelegramDeliveryFailure
from tests.asgi import running, served
from tests.assistant_client import INTEGRATION_KEY, Patient
from tests.conftest import make_settings
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

REDIS_URL = "redis://127.0.0.1:6379/0"
ASSETS = Path(__file__).resolve().parents[1] / "serving" / "channels" / "telegram" / "assets"
CARE_CARD = ASSETS / "care_card.en.png"
DOCTORS_REPLY = "Dr. Cohen: the swelling you describe is expected; call us if it grows."


def visitor_id() -> str:
    return f"web-{secrets.token_hex(16)}"


@asynccontextmanager
async def stream(base_url: str, user_id: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The page's event stream, as its pushed events; connected once this yields."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=20) as client,
        client.stream("GET", "/api/v1/chat/stream", params={"user_id": user_id}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await anext(lines) == ": connected"

        async def events() -> AsyncIterator[dict[str, Any]]:
            async for line in lines:
                if line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))

        yield events()


async def _conversation_id(database: Database, channel: str, user_id: str) -> str:
    async with database.transaction() as session:
        found = await session.scalar(
            select(db.Conversation.id).where(
                db.Conversation.channel == channel, db.Conversation.external_user_id == user_id
            )
        )
    assert found is not None
    return found


async def _outbound_messages(database: Database, conversation_id: str) -> list[tuple[str, str]]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(db.Message.intent, db.Message.text)
            .where(db.Message.conversation_id == conversation_id, db.Message.model == "outbound")
            .order_by(db.Message.id)
        )
        return [(str(intent), text) for intent, text in rows]


def _image() -> Image:
    return Image(CARE_CARD.read_bytes(), "image/png", "care_card.png", caption="After-care")


async def test_a_push_reaches_the_open_web_chat(database_url: str, database: Database) -> None:
    app = create_app(make_settings(database_url), database=database)
    async with served(app) as base_url:
        user_id = visitor_id()
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            reply = await Patient(client, user_id=user_id, trusted=False).send("hello")
        conversation_id = reply["conversation_id"]
        outbox: Outbox = app.state.outbox
        async with stream(base_url, user_id) as events:
            book = Button(text="Book an appointment", data="quick:book")
            assert await outbox.send_text(conversation_id, DOCTORS_REPLY, [book])
            assert await outbox.send_location(
                conversation_id, Place("Clinic", "1 Herzl St", 32.08, 34.78)
            )
            assert await outbox.send_image(conversation_id, _image())
            text, location, image = [await anext(events) for _ in range(3)]
        assert text == {
            "kind": "text",
            "text": DOCTORS_REPLY,
            "language": reply["language"],
            "buttons": [{"text": "Book an appointment", "data": "quick:book"}],
        }
        assert location["kind"] == "location" and location["address"] == "1 Herzl St"
        assert location["latitude"] == 32.08
        assert image["kind"] == "image" and image["src"].startswith("data:image/png;base64,")
        assert await _outbound_messages(database, conversation_id) == [
            ("outbound_text", DOCTORS_REPLY),
            ("outbound_location", "Clinic\n1 Herzl St"),
            ("outbound_image", "After-care"),
        ]


async def test_a_push_with_no_page_open_is_kept_but_not_delivered(
    database_url: str, database: Database
) -> None:
    app = create_app(make_settings(database_url), database=database)
    async with running(app) as client:
        reply = await Patient(client, user_id=visitor_id(), trusted=False).send("hello")
        outbox: Outbox = app.state.outbox
        assert not await outbox.send_text(reply["conversation_id"], DOCTORS_REPLY)
        assert await _outbound_messages(database, reply["conversation_id"]) == [
            ("outbound_text", DOCTORS_REPLY)
        ]


async def test_a_push_from_another_replica_arrives_through_redis(
    database_url: str, database: Database
) -> None:
    settings = make_settings(database_url, redis_url=REDIS_URL)
    holding_the_stream = create_app(settings, database=database)
    other_replica = create_app(settings, database=database)
    async with served(holding_the_stream) as base_url, running(other_replica) as client:
        user_id = visitor_id()
        reply = await Patient(client, user_id=user_id, trusted=False).send("hello")
        async with stream(base_url, user_id) as events:
            outbox: Outbox = other_replica.state.outbox
            assert await outbox.send_text(reply["conversation_id"], DOCTORS_REPLY)
            event = await anext(events)
        assert event["kind"] == "text" and event["text"] == DOCTORS_REPLY


@pytest.mark.parametrize("user_id", ["kiosk-7", "web-1234", f"web-{'A' * 32}", ""])
async def test_only_the_pages_unguessable_visitor_ids_may_listen(
    database_url: str, database: Database, user_id: str
) -> None:
    async with running(create_app(make_settings(database_url), database=database)) as client:
        response = await client.get("/api/v1/chat/stream", params={"user_id": user_id})
    assert response.status_code == 422


async def test_a_push_reaches_a_telegram_chat(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    settings = telegram_settings(database_url, bot_api)
    async with telegram_bot(settings, bot_api) as bot:
        user = TelegramUser(bot, 7401)
        await user.say("/start")
        conversation_id = await _conversation_id(database, "telegram", "7401")
        outbox: Outbox = bot.app.state.outbox
        book = Button(text="Book an appointment", data="quick:book")
        assert await outbox.send_text(conversation_id, DOCTORS_REPLY, [book])
        assert await outbox.send_location(conversation_id, Place("Clinic", "1 Herzl", 32.0, 34.7))
        assert await outbox.send_image(conversation_id, _image())
        text, venue, photo = user.new_calls()
        assert text.method == "sendMessage" and text.text == DOCTORS_REPLY
        assert text.buttons == [("Book an appointment", "quick:book")]
        assert venue.method == "sendVenue" and venue.params["address"] == "1 Herzl"
        assert photo.method == "sendPhoto" and photo.uploaded == ("photo",)
        assert photo.params["caption"] == "After-care"


async def test_a_conversation_nothing_can_reach_is_refused_and_nothing_stored(
    database_url: str, database: Database
) -> None:
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    app = create_app(settings, database=database)
    async with running(app) as client:
        reply = await Patient(client, user_id="kiosk-1", phone=None).send("hello")
        outbox: Outbox = app.state.outbox
        with pytest.raises(NoChannel):
            await outbox.send_text(reply["conversation_id"], DOCTORS_REPLY)
        with pytest.raises(NoChannel):
            await outbox.send_text("no-such-conversation", DOCTORS_REPLY)
        assert await _outbound_messages(database, reply["conversation_id"]) == []


async def test_a_push_telegram_refuses_is_recorded_for_the_admin_view(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7402)
        await user.say("/start")
        conversation_id = await _conversation_id(database, "telegram", "7402")
        outbox: Outbox = bot.app.state.outbox
        bot_api.fail("sendPhoto", 403)  # the patient blocked the bot
        assert not await outbox.send_image(conversation_id, _image())
    async with database.transaction() as session:
        [failure] = (await session.scalars(select(TelegramDeliveryFailure))).all()
    assert (failure.chat_id, failure.method, failure.update_id) == (7402, "send_photo", None)
    assert failure.request["upload_bytes"] == CARE_CARD.stat().st_size
    assert "upload" not in failure.request, "the image itself is not copied into the record"
    assert await _outbound_messages(database, conversation_id) == [("outbound_image", "After-care")]
