"""Rate limits per user id, client address and Telegram chat: 429 with Retry-After on the chat
API, one notice per window on Telegram, never in the way of an emergency; counters in the
process or shared through the Redis at 127.0.0.1:6379 (a unique key prefix per test)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select

from serving.app import create_app
from serving.db import models as db
from serving.db.engine import Database
from serving.settings import Settings
from tests.assistant_client import INTEGRATION_KEY, Patient
from tests.conftest import make_settings
from tests.redis_keys import REDIS_URL, keys_under, redis_prefix_fixture  # noqa: F401
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings, texts
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
EMERGENCY = "my face is swelling and I can't swallow"
EMERGENCY_HE = "הפנים שלי מתנפחות ואני לא מצליח לבלוע"
ROUTINE = "what are your opening hours?"


@asynccontextmanager
async def chat_client(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and a client that connects from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as client,
    ):
        yield client


@asynccontextmanager
async def from_address(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another client of an app that is already running."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as client:
        yield client


def limited_settings(database_url: str, **limits: object) -> Settings:
    """Limits that tests can reach; each test sets the ones it checks."""
    values: dict[str, object] = {
        "integration_key": INTEGRATION_KEY,
        "rate_limit_per_user": 0,
        "rate_limit_per_address": 0,
        "rate_limit_per_telegram_chat": 0,
        **limits,
    }
    return make_settings(database_url, **values)


def visitor(client: httpx.AsyncClient, user_id: str | None = None) -> Patient:
    """Someone on the web chat (no integration key)."""
    return Patient(client, user_id=user_id or f"web-{uuid.uuid4().hex[:8]}", trusted=False)


async def _patient_messages(database: Database) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(db.Message).where(db.Message.role == "patient")
        )
    return int(count or 0)


def _post(user_id: str, text: str) -> dict[str, object]:
    return {"user_id": user_id, "text": text}


# --- the chat API --------------------------------------------------------------------------


async def test_a_user_id_over_its_limit_gets_429_with_retry_after(
    database_url: str, database: Database
) -> None:
    settings = limited_settings(database_url, rate_limit_per_user=3)
    async with chat_client(create_app(settings, database=database)) as client:
        someone = visitor(client)
        for _ in range(3):
            await someone.send(ROUTINE)
        stored = await _patient_messages(database)
        for _ in range(2):
            refused = await client.post("/api/v1/chat", json=_post(someone.user_id, ROUTINE))
            assert refused.status_code == 429
            assert refused.json()["error"] == "rate_limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert await _patient_messages(database) == stored, "a refused message is not stored"

        await visitor(client).send(ROUTINE)  # another user id is not held back
        trusted = Patient(client, user_id=someone.user_id)  # the integration: its own users
        for _ in range(3):
            await trusted.send(ROUTINE)
        await trusted.send(ROUTINE, expect=429)
        metrics = (await client.get("/metrics")).text
        assert 'dental_rate_limited_total{scope="user"} 3.0' in metrics


async def test_one_address_is_limited_across_user_ids(
    database_url: str, database: Database
) -> None:
    settings = limited_settings(database_url, rate_limit_per_user=10, rate_limit_per_address=4)
    app = create_app(settings, database=database)
    async with chat_client(app, "203.0.113.7") as client:
        for _ in range(4):
            await visitor(client).send(ROUTINE)
        refused = await client.post("/api/v1/chat", json=_post("fresh-user-id", ROUTINE))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1

        async with from_address(app, "198.51.100.20") as elsewhere:
            await visitor(elsewhere).send(ROUTINE)
        # A trusted integration is one server for many patients: not limited by its address.
        for n in range(6):
            await Patient(client, user_id=f"kiosk-{n}").send(ROUTINE)


async def test_an_emergency_past_the_limit_still_gets_the_fixed_reply(
    database_url: str, database: Database
) -> None:
    settings = limited_settings(database_url, rate_limit_per_user=2, rate_limit_per_address=2)
    app = create_app(settings, database=database)
    async with chat_client(app) as client:
        someone = visitor(client)
        for _ in range(2):
            await someone.send(ROUTINE)
        await someone.send(ROUTINE, expect=429)
        fixed = app.state.runtime().triager

        for text, language in ((EMERGENCY, "en"), (EMERGENCY_HE, "he")):
            reply = await someone.send(text)
            assert reply["urgency"] == "EMERGENCY"
            assert reply["reply"].endswith(fixed.emergency_reply(language))
            assert reply["escalation"]["urgency"] == "EMERGENCY"
        await visitor(client).send(EMERGENCY)  # past the address limit too

        await someone.send(ROUTINE, expect=429)  # emergencies opened no gap for the rest


# --- Telegram ------------------------------------------------------------------------------


async def test_a_telegram_chat_over_its_limit_is_told_once(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    settings = telegram_settings(database_url, bot_api, rate_limit_per_telegram_chat=2)
    async with telegram_bot(settings, bot_api) as bot:
        patient = TelegramUser(bot, 7301)
        welcome = await patient.say("/start")  # a command, not a message to the assistant
        for _ in range(2):
            assert "08:00" in texts(await patient.say(ROUTINE))

        notice = await patient.say(ROUTINE)
        notices = [c for c in notice if c.method == "sendMessage"]
        assert len(notices) == 1
        assert "faster than I can answer" in notices[0].text
        assert "+97235550199" in notices[0].text, "the urgent line, in case it is urgent"
        for _ in range(3):
            silent = await patient.say(ROUTINE)
            assert [c for c in silent if c.method == "sendMessage"] == [], "told once"

        emergency = await patient.say(EMERGENCY)
        assert "101" in texts(emergency), "an emergency is always answered"

        pressed = await patient.press(welcome, "quick:book")
        assert [c.method for c in pressed] == ["answerCallbackQuery"]
        assert "faster than I can answer" in pressed[0].params["text"], "the press is answered"

        hebrew = TelegramUser(bot, 7302, language_code="he")
        for _ in range(2):
            await hebrew.say("מה שעות הפתיחה?")
        told = await hebrew.say("מה שעות הפתיחה?")
        assert "המתינו" in texts(told), "in the patient's language"
        assert "08:00" in texts(await TelegramUser(bot, 7303).say(ROUTINE)), "other chats go on"


# --- Redis: counters shared by replicas, and no Redis is no reason to stop -------------------


async def test_two_app_instances_share_the_redis_counters(
    database_url: str, database: Database, redis_prefix: str
) -> None:
    settings = limited_settings(
        database_url,
        rate_limit_per_user=4,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_prefix,
    )
    one = create_app(settings, database=database)
    two = create_app(settings, database=database)
    async with chat_client(one) as first, chat_client(two) as second:
        user_id = f"web-{uuid.uuid4().hex[:8]}"
        for client in (first, second, first, second):
            await visitor(client, user_id).send(ROUTINE)
        refused = await second.post("/api/v1/chat", json=_post(user_id, ROUTINE))
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        await visitor(first, user_id).send(ROUTINE, expect=429)
    keys = await keys_under(redis_prefix)
    assert len(keys) == 1 and user_id not in keys[0], "one counter, its id hashed"
    client = Redis.from_url(REDIS_URL)
    try:
        assert 0 < await client.pttl(keys[0]) <= 60_000, "the counter expires with its window"
    finally:
        await client.aclose()


async def test_without_redis_the_chat_goes_on(
    database_url: str, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    settings = limited_settings(
        database_url, rate_limit_per_user=1, redis_url=UNREACHABLE_REDIS_URL
    )
    with caplog.at_level(logging.INFO, logger="serving.ratelimit"):
        async with chat_client(create_app(settings, database=database)) as client:
            someone = visitor(client)
            for _ in range(3):
                await someone.send(ROUTINE)  # over the limit, but nobody can count: answered
            metrics = (await client.get("/metrics")).text
    assert "dental_rate_limit_errors_total 3.0" in metrics
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "serving.ratelimit"
    ]
    assert len(warnings) == 1, "logged once per outage, not per message"
