"""Bad input at the Telegram webhook: forged or missing secrets, malformed and oversized
bodies, and update types patients send that the assistant cannot read. Handled, logged
without content, no crash; forged requests write nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from serving.app import create_app
from serving.channels.telegram.formatting import html_chunks
from serving.db import models as db
from serving.db.engine import Database
from serving.db.telegram_models import TelegramChat, TelegramUpdate
from tests.asgi import running
from tests.conftest import make_settings
from tests.telegram_client import (
    SECRET_HEADER,
    TelegramUser,
    telegram_bot,
    telegram_settings,
    texts,
)
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401


async def _stored(database: Database) -> tuple[int, int]:
    async with database.transaction() as session:
        updates = await session.scalar(select(func.count()).select_from(TelegramUpdate))
        chats = await session.scalar(select(func.count()).select_from(TelegramChat))
    return int(updates or 0), int(chats or 0)


async def test_forged_malformed_and_oversized_requests_write_nothing(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        update = TelegramUser(bot, 9001).message_update(text="hi")
        assert (await bot.post(update, secret=None)).status_code == 401
        assert (await bot.post(update, secret="webhook-secret_12")).status_code == 401
        assert (await bot.post(update, secret="webhook-secret_1234")).status_code == 401
        headers = {SECRET_HEADER: "webhook-secret_123", "Content-Type": "application/json"}
        for body, status in (
            (b"{not json", 400),
            (b"\xff\xfe", 400),
            (b"[1, 2]", 400),
            (b'{"update_id": "7"}', 400),
            (b'{"message": {}}', 400),
            (json.dumps({"update_id": 1, "message": {"text": "x" * (1 << 20)}}).encode(), 413),
        ):
            response = await bot.client.post("/telegram/webhook", content=body, headers=headers)
            assert response.status_code == status, (body[:20], response.text)

        async def chunked() -> object:  # no Content-Length: the limit holds while reading
            for _ in range(64):
                yield b" " * 16384

        response = await bot.client.post(
            "/telegram/webhook",
            content=chunked(),
            headers=headers,  # type: ignore[arg-type]
        )
        assert response.status_code == 413
        await bot.drain()
        assert await _stored(database) == (0, 0)
        assert bot_api.sent() == []


async def test_bodies_that_are_not_strict_json_are_refused_with_400(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    """Deep nesting used to escape as a 500 (RecursionError), NaN and 1e400 were stored (and
    refused by PostgreSQL: a 500 Telegram retries forever), and a lone surrogate was stored and
    then failed three turns with UnicodeEncodeError."""
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        headers = {SECRET_HEADER: "webhook-secret_123", "Content-Type": "application/json"}
        update = TelegramUser(bot, 9004).message_update(text="hi")
        valid = json.dumps(update)
        lone = valid.replace('"hi"', '"\\ud800 hi"')
        for body, detail in (
            ('{"update_id": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper"),
            ('{"update_id": 1, "x": ' + "[" * 80 + "]" * 80 + "}", "nested deeper"),
            ('{"update_id": 1, "x": ' + "{" * 5000, "not JSON"),
            ('{"update_id": 1, "x": NaN}', "not JSON"),
            ('{"update_id": 1, "x": -Infinity}', "not JSON"),
            ('{"update_id": 1, "x": 1e400}', "out of range"),
            ('{"update_id": 1} trailing', "not JSON"),
            ("", "not JSON"),
            ('{"update_id": 1, "x": "' + "9" * 5000 + '"', "not JSON"),
            (lone, "not valid Unicode"),
            (valid.replace('"text"', '"\\udfff"'), "not valid Unicode"),
        ):
            response = await bot.client.post(
                "/telegram/webhook", content=body.encode(), headers=headers
            )
            assert response.status_code == 400, (body[:40], response.text)
            assert detail in response.json()["message"], response.text
            assert "hi" not in response.json()["message"]
        surrogate_pair = valid.replace('"hi"', '"\\ud83d\\ude00 hi"')  # an emoji: fine
        response = await bot.client.post(
            "/telegram/webhook", content=surrogate_pair.encode(), headers=headers
        )
        assert response.status_code == 200, response.text
        await bot.drain()
        assert await _stored(database) == (1, 1), "only the valid update was stored"
        assert len(bot_api.messages_to(9004)) == 1


async def test_patients_non_text_messages_and_other_update_types(
    database_url: str, database: Database, bot_api: BotApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 9002)
        file = {"file_id": "f", "file_unique_id": "u"}
        for content in (
            {
                "sticker": {
                    **file,
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
            {"voice": {**file, "duration": 3}},
            {"photo": [{**file, "width": 1, "height": 1}], "caption": "my x-ray 0501234567"},
        ):
            calls = await user.send(user.message_update(**content))
            assert texts(calls) == (
                "I can only read text messages. Please write your question, or tap one of "
                "the buttons."
            )
        edited = user.message_update(text="edited text", edit_date=1)
        edited["edited_message"] = edited.pop("message")
        assert await user.send(edited) == []
        for unknown in (
            {"update_id": 555_001, "poll": {"id": "p", "question": "?", "options": []}},
            {"update_id": 555_002, "something_from_a_newer_api": {"x": 1}},
            {"update_id": 555_003},
        ):
            assert (await bot.post(unknown)).status_code == 200
        await bot.drain()
        group = user.message_update(text="hi everyone, my phone is 0501234567")
        group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Family"}
        await bot.deliver(group)
        await bot.drain()
        declined = bot_api.sent(chat_id=-100123)
        assert [c.method for c in declined] == ["sendMessage", "leaveChat"]
        assert "private chats" in declined[0].text
        async with database.transaction() as session:
            statuses = (await session.scalars(select(TelegramUpdate.status))).all()
        assert set(statuses) <= {"done", "ignored"} and "pending" not in statuses
    assert "0501234567" not in caplog.text and "x-ray" not in caplog.text
    assert "edited text" not in caplog.text


async def test_text_with_nothing_visible_is_refused_and_not_stored(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 9004)
        for blank in ("\ufeff", "\u2060\u2060", "\ufeff\u00a0\u200b\u3000\u2060"):
            calls = await user.say(blank)
            assert texts(calls) == (
                "I couldn't read that message: please send text of at most 4,000 characters."
            )
        async with database.transaction() as session:
            stored = await session.scalar(select(func.count()).select_from(db.Message))
        assert stored == 0


async def test_text_that_is_not_valid_unicode_gets_one_reply_and_is_done(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    """Past the webhook (a lone surrogate is valid JSON), the assistant's own input check
    refuses it: one invalid-message reply, the update done at its first attempt."""
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 9005)
        assert await bot.app.state.telegram.accept(user.message_update(text="hi \ud800"))
        await bot.drain()
        assert texts(user.new_calls()) == (
            "I couldn't read that message: please send text of at most 4,000 characters."
        )
        async with database.transaction() as session:
            updates = (
                await session.execute(select(TelegramUpdate.status, TelegramUpdate.attempts))
            ).all()
            stored = await session.scalar(select(func.count()).select_from(db.Message))
        assert [tuple(u) for u in updates] == [("done", 1)]
        assert stored == 0


async def test_stale_and_foreign_buttons_are_answered_without_acting(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 9003)
        welcome = await user.say("/start")
        for data in ("confirm:deadbeef", "slot:abc.1", "not a button", "x" * 64):
            calls = await user.send(user.callback_update(welcome[0], data))
            [answer] = calls
            assert answer.method == "answerCallbackQuery"
            assert "no longer valid" in answer.params["text"]


async def test_webhook_without_configuration_says_so(database_url: str) -> None:
    async with running(create_app(make_settings(database_url))) as client:
        response = await client.post("/telegram/webhook", json={"update_id": 1})
    assert response.status_code == 503
    assert "TELEGRAM_WEBHOOK_SECRET" in response.text


def test_long_replies_are_split_between_paragraphs_never_inside_an_entity() -> None:
    paragraph = ("Tom & Jerry <clinic> " * 40).strip()
    text = "\n\n".join([paragraph] * 12)
    chunks = html_chunks(text)
    assert len(chunks) > 1
    assert all(len(chunk.encode("utf-16-le")) // 2 <= 4096 for chunk in chunks)
    assert all(chunk.startswith("Tom &amp; Jerry") for chunk in chunks), "cut at paragraphs"
    assert "".join(chunks).count("&amp;") == text.count("&")
    unbroken = "&" * 5000  # no boundary at all: cut hard, yet between whole entities
    pieces = html_chunks(unbroken)
    assert all(piece.replace("&amp;", "") == "" for piece in pieces)
    assert sum(piece.count("&amp;") for piece in pieces) == 5000
    hebrew = "שלום עולם " * 1000
    assert all(len(c) <= 4096 for c in html_chunks(hebrew))
    assert html_chunks("  ") == []
