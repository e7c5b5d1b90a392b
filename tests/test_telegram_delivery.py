"""Exactly-once and in-order handling, and outbound reliability, against the Bot API stand-in:
re-delivered updates, many interleaved chats, 429 and 5xx answers, undeliverable replies,
a crashed replica's chat taken over, and a failing update that must not block its chat."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from serving.channels.telegram.bot import build_bot
from serving.channels.telegram.inbox import Inbox
from serving.channels.telegram.outbound import Outgoing, RetryPolicy, Sender
from serving.db import models as db
from serving.db.engine import Database
from serving.db.telegram_models import TelegramDeliveryFailure, TelegramUpdate
from tests.telegram_client import (
    TelegramUser,
    expire_lease,
    hold_chat,
    telegram_bot,
    telegram_settings,
    texts,
)
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401


async def test_the_same_update_twice_is_processed_and_answered_once(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8001)
        message = user.message_update(text="what are your opening hours?")
        first = await bot.post(message)
        again = await bot.post(message)  # Telegram re-sends on a timeout
        assert first.json() == {"ok": True, "duplicate": False}
        assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
        await bot.drain()
        await bot.post(message)  # and once more after it was answered
        await bot.drain()
        assert len(bot_api.messages_to(8001)) == 1
        async with database.transaction() as session:
            patient_messages = (
                await session.scalars(select(db.Message).where(db.Message.role == "patient"))
            ).all()
        assert len(patient_messages) == 1


async def test_twenty_interleaved_chats_keep_their_order(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    script = ["what are your opening hours?", "/location", "do you take Maccabi insurance?"]
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        users = [TelegramUser(bot, 8100 + n) for n in range(20)]
        for text in script:  # round-robin: every chat's messages interleave with the others'
            updates = [user.message_update(text=text) for user in users]
            responses = await asyncio.gather(*(bot.post(u) for u in updates))
            assert all(r.status_code == 200 for r in responses)
        await bot.drain()
        for user in users:
            calls = [c for c in bot_api.sent(chat_id=user.user_id) if c.method != "sendChatAction"]
            assert [c.method for c in calls] == ["sendMessage", "sendVenue", "sendMessage"]
            assert "08:00" in calls[0].text, "hours answered first"
            assert "Maccabi" in calls[2].text, "insurance answered last"
        async with database.transaction() as session:
            pending = (
                await session.scalars(select(TelegramUpdate).where(TelegramUpdate.status != "done"))
            ).all()
        assert pending == []


async def test_429_is_waited_out_and_5xx_retried(database_url: str, bot_api: BotApiStandIn) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8002)
        bot_api.fail("sendMessage", 429, retry_after=1)
        calls = await user.say("what are your opening hours?")
        attempts = [c for c in calls if c.method == "sendMessage"]
        assert len(attempts) == 2 and attempts[0].text == attempts[1].text
        assert "08:00" in attempts[1].text

        bot_api.fail("sendMessage", 502)
        calls = await user.say("thanks")
        assert len([c for c in calls if c.method == "sendMessage"]) == 2


async def test_retries_are_bounded_and_the_failure_recorded(
    database: Database, bot_api: BotApiStandIn, database_url: str
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = build_bot(telegram_settings(database_url, bot_api))
    sender = Sender(client.bot, database, policy=RetryPolicy(attempts=3), sleep=sleep)
    message = Outgoing("send_message", {"chat_id": 42, "text": "your appointment"})
    try:
        bot_api.fail("sendMessage", 500, times=5)
        assert await sender.deliver(message, update_id=77) is False
        assert len(bot_api.sent("sendMessage")) == 3 and waits == [0.5, 2.0]

        bot_api.fail("sendMessage", 429, retry_after=3600)  # longer than we wait
        assert await sender.deliver(message, update_id=78) is False

        bot_api.fail("sendMessage", 403)  # the patient blocked the bot: no retry
        assert await sender.deliver(message, update_id=79) is False

        bot_api.fail("answerCallbackQuery", 400)  # not essential: logged only
        assert not await sender.deliver(
            Outgoing("answer_callback_query", {"callback_query_id": "x"}, essential=False)
        )
        assert len(bot_api.sent("answerCallbackQuery")) == 1, "a bad request is not retried"
    finally:
        await client.close()
    async with database.transaction() as session:
        failures = (
            await session.scalars(
                select(TelegramDeliveryFailure).order_by(TelegramDeliveryFailure.id)
            )
        ).all()
    assert [(f.update_id, f.method, f.attempts) for f in failures] == [
        (77, "send_message", 3),
        (78, "send_message", 1),
        (79, "send_message", 1),
    ]
    assert failures[0].request["text"] == "your appointment"
    assert failures[2].error.startswith("Forbidden")


async def test_a_crashed_replicas_chat_is_taken_over(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8003)
        await hold_chat(database, 8003, lease=timedelta(minutes=5))
        await bot.deliver(user.message_update(text="what are your opening hours?"))
        await bot.drain()
        assert bot_api.messages_to(8003) == [], "a live lease of another replica is respected"

        await expire_lease(database, 8003)
        await bot.drain()
        assert "08:00" in texts(bot_api.messages_to(8003))


async def test_a_half_sent_update_resumes_without_sending_twice(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8004)
        message = user.message_update(text="/start")
        await hold_chat(database, 8004, lease=timedelta(minutes=5))
        await bot.app.state.telegram.inbox.accept(message)
        outbox = [
            Outgoing("send_message", {"chat_id": 8004, "text": "first, already sent"}).to_json(),
            Outgoing("send_message", {"chat_id": 8004, "text": "second, not yet"}).to_json(),
        ]
        async with database.transaction() as session:  # as a replica left it when it died
            await session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == message["update_id"])
                .values(outbox=outbox, sent=1, attempts=1)
            )
        await expire_lease(database, 8004)
        await bot.drain()
        assert [c.text for c in bot_api.messages_to(8004)] == ["second, not yet"]


async def test_a_secret_call_is_sent_after_a_crash_then_no_longer_stored(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    """A patient's data link planned but not sent when the replica died is sent by the next;
    once sent, the update's outbox keeps the call without its text."""
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 8007)
        message = user.message_update(text="/mydata")
        await hold_chat(database, 8007, lease=timedelta(minutes=5))
        await bot.app.state.telegram.inbox.accept(message)
        link = "https://clinic.example/my-data?lang=en#" + "s" * 43
        outbox = [
            Outgoing("send_message", {"chat_id": 8007, "text": "a reply"}).to_json(),
            Outgoing("send_message", {"chat_id": 8007, "text": link}, secret=True).to_json(),
        ]
        async with database.transaction() as session:  # as a replica left it when it died
            await session.execute(
                update(TelegramUpdate)
                .where(TelegramUpdate.update_id == message["update_id"])
                .values(outbox=outbox, sent=0, attempts=1)
            )
        await expire_lease(database, 8007)
        await bot.drain()
        assert [c.text for c in bot_api.messages_to(8007)] == ["a reply", link]
        async with database.read() as session:
            row = await session.get(TelegramUpdate, message["update_id"])
        assert row is not None and (row.status, row.sent) == ("done", 2)
        assert row.outbox is not None and row.outbox[0] == outbox[0]
        assert "s" * 43 not in json.dumps(row.outbox)
        assert row.outbox[1]["params"]["chat_id"] == 8007


async def test_a_failing_update_is_retried_then_apologised_for(
    database_url: str, database: Database, bot_api: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        channel = bot.app.state.telegram
        monkeypatch.setattr(channel.worker, "_retry_delay", timedelta(0))
        user = TelegramUser(bot, 8005)
        failures = 0
        plan = channel.handler.plan

        async def broken(payload: dict[str, object]) -> list[Outgoing]:
            nonlocal failures
            if payload["message"]["text"] == "boom":  # type: ignore[index]
                failures += 1
                raise RuntimeError("a bug")
            return await plan(payload)

        monkeypatch.setattr(channel.handler, "plan", broken)
        await bot.deliver(user.message_update(text="boom"))
        await bot.deliver(user.message_update(text="what are your opening hours?"))
        for _ in range(5):
            await bot.drain()
            await asyncio.sleep(0)
        sent = texts(bot_api.messages_to(8005))
        assert failures == 3
        assert "something went wrong" in sent, "the patient hears about it"
        assert "08:00" in sent, "the chat's next message is still answered"
        async with database.transaction() as session:
            rows = (
                await session.execute(
                    select(TelegramUpdate.status, TelegramUpdate.error).order_by(
                        TelegramUpdate.update_id
                    )
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            ("failed", "RuntimeError: processing failed 3 times"),
            ("done", None),
        ]
        assert (
            "something went wrong"
            not in texts(bot_api.messages_to(8005)).split("something went wrong", 1)[1]
        ), "one apology"
        metrics = (await bot.client.get("/metrics")).text
        assert 'dental_telegram_dead_letters_total{cause="attempts"} 1.0' in metrics


async def test_one_update_the_database_refuses_does_not_fail_its_batch(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = Inbox(database)
    insert_batch = inbox._insert_batch

    async def refuse_poison(rows: list[dict[str, object]]) -> dict[int, bool]:
        if any(row["update_id"] == 13 for row in rows):
            raise ValueError("refused")
        return await insert_batch(rows)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox, "_insert_batch", refuse_poison)
    updates = [
        {"update_id": n, "message": {"chat": {"id": n % 3, "type": "private"}}}
        for n in range(10, 16)
    ]
    results = await asyncio.gather(
        *(inbox.accept(u) for u in [*updates, updates[0]]), return_exceptions=True
    )
    assert isinstance(results[3], ValueError), "the refused update fails alone (Telegram retries)"
    assert results[:3] + results[4:6] == [True] * 5
    assert results[6] is False, "a copy in the same batch is a duplicate"
    async with database.transaction() as session:
        stored = (await session.scalars(select(TelegramUpdate.update_id))).all()
    assert sorted(stored) == [10, 11, 12, 14, 15]


async def _messages(database: Database) -> list[tuple[str, str]]:
    async with database.transaction() as session:
        rows = await session.execute(
            select(db.Message.role, db.Message.text).order_by(db.Message.id)
        )
        return [(role, text) for role, text in rows]


async def test_a_retried_update_whose_turn_was_stored_sends_the_stored_reply(
    database_url: str, database: Database, bot_api: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the turn stored its reply and before the update's outbox was
    saved: the retry sends the stored reply; the turn does not run (or store) again."""
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        channel = bot.app.state.telegram
        monkeypatch.setattr(channel.worker, "_retry_delay", timedelta(0))
        save_outbox, deaths = channel.inbox.save_outbox, []

        async def die_once(update_id: int, outbox: list[dict[str, object]]) -> None:
            if not deaths:
                deaths.append(update_id)
                raise ConnectionResetError("the process died here")
            await save_outbox(update_id, outbox)

        monkeypatch.setattr(channel.inbox, "save_outbox", die_once)
        user = TelegramUser(bot, 8006)
        calls = await user.say("hello")
        await bot.drain()
        sent = [c for c in calls + user.new_calls() if c.method == "sendMessage"]
        assert deaths and len(sent) == 1, [c.text for c in sent]
        assert any(data == "quick:book" for _, data in sent[0].buttons), "buttons kept"
        stored = await _messages(database)
        assert [role for role, _ in stored] == ["patient", "assistant"], "the turn ran once"
        assert stored[1][1] in sent[0].text.replace("&amp;", "&")


async def test_a_turn_that_died_midway_runs_again_on_the_message_already_stored(
    database_url: str, database: Database, bot_api: BotApiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        monkeypatch.setattr(bot.app.state.telegram.worker, "_retry_delay", timedelta(0))
        assistant, deaths = bot.app.state.assistant, []
        answer = assistant._answer

        async def die_once(*args: object, **kwargs: object) -> object:
            if not deaths:
                deaths.append(1)
                raise ConnectionResetError("the model connection dropped mid-turn")
            return await answer(*args, **kwargs)

        monkeypatch.setattr(assistant, "_answer", die_once)
        user = TelegramUser(bot, 8007)
        await user.say("what are your opening hours?")
        await bot.drain()
        assert deaths and "08:00" in texts(bot_api.messages_to(8007))
        stored = await _messages(database)
        assert [role for role, _ in stored] == ["patient", "assistant"], "stored once"
