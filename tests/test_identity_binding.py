"""Every call that asserts an identity re-binds or unbinds the conversation (issue 10,
finding 2): a kiosk or a shared tablet never shows the previous patient's data. Through the
keyed chat API and through Telegram contact sharing, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from serving.app import create_app
from serving.assistant import Assistant, IdentityProof, UnprovenIdentity
from serving.db import models as db
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.conftest import make_settings
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings, texts
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401

NOBODYS_PHONE = "+972501111999"
"""A dialable number no patient of the demo clinic has."""
DANAS_INVOICE = "INV/2026/0042"
BALANCE = "how much do I owe?"


@pytest.fixture
def app(database_url: str, database: Database) -> FastAPI:
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as http:
        yield http


async def _bound_patient(database: Database, channel: str, user_id: str) -> int | None:
    async with database.transaction() as session:
        return await session.scalar(
            select(db.Conversation.patient_id).where(
                db.Conversation.channel == channel, db.Conversation.external_user_id == user_id
            )
        )


async def test_a_kiosk_phone_matching_nobody_unbinds_the_previous_patient(
    client: httpx.AsyncClient, database: Database
) -> None:
    dana = Patient(client, user_id="kiosk-7", phone=DANA_PHONE)
    assert DANAS_INVOICE in (await dana.send(BALANCE))["reply"]

    stranger = Patient(client, user_id="kiosk-7", phone=NOBODYS_PHONE)
    reply = await stranger.send(BALANCE)
    assert DANAS_INVOICE not in reply["reply"] and "450" not in reply["reply"]
    assert "identity_required" in [a["type"] for a in reply["actions"]]
    assert await _bound_patient(database, "api", "kiosk-7") is None


async def test_a_kiosk_phone_of_another_patient_binds_that_patient(
    client: httpx.AsyncClient,
) -> None:
    await Patient(client, user_id="kiosk-8", phone=DANA_PHONE).send(BALANCE)
    reply = await Patient(client, user_id="kiosk-8", phone=JOHN_PHONE).send(BALANCE)
    assert "INV/2026/0017" in reply["reply"] and DANAS_INVOICE not in reply["reply"]


async def test_a_keyed_request_without_a_phone_is_anonymous(
    client: httpx.AsyncClient, database: Database
) -> None:
    await Patient(client, user_id="kiosk-9", phone=DANA_PHONE).send(BALANCE)
    reply = await Patient(client, user_id="kiosk-9", phone=None).send(BALANCE)
    assert DANAS_INVOICE not in reply["reply"]
    assert "identity_required" in [a["type"] for a in reply["actions"]]
    assert await _bound_patient(database, "api", "kiosk-9") is None


async def test_an_invalid_kiosk_phone_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    await Patient(client, user_id="kiosk-10", phone=DANA_PHONE).send(BALANCE)
    bound = await _bound_patient(database, "api", "kiosk-10")
    refused = await Patient(client, user_id="kiosk-10", phone="0000").send(BALANCE, expect=422)
    assert refused["error"] == "invalid_request" and "0000" not in refused["message"]
    assert await _bound_patient(database, "api", "kiosk-10") == bound is not None
    async with database.transaction() as session:
        stored = await session.scalars(
            select(db.Message.text)
            .join(db.Conversation)
            .where(db.Conversation.external_user_id == "kiosk-10", db.Message.role == "patient")
        )
        assert list(stored) == [BALANCE], "the refused message was not stored"


async def test_telegram_contact_matching_nobody_unbinds_the_verified_patient(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7301)
        verified = await user.share_contact(DANA_PHONE.lstrip("+"))
        assert "your phone number is verified" in texts(verified)
        assert DANAS_INVOICE in texts(await user.say(BALANCE))

        unknown = await user.share_contact(NOBODYS_PHONE.lstrip("+"))
        assert "couldn't find a patient record" in texts(unknown)
        after = await user.say(BALANCE)
        assert DANAS_INVOICE not in texts(after) and "450" not in texts(after)
        assert any(call.asks_for_contact for call in after), "asked to verify again"
        assert await _bound_patient(database, "telegram", "7301") is None


async def test_telegram_contact_of_another_patient_rebinds(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7302)
        await user.share_contact(DANA_PHONE.lstrip("+"))
        await user.share_contact(JOHN_PHONE.lstrip("+"))
        reply = texts(await user.say(BALANCE))
        assert "INV/2026/0017" in reply and DANAS_INVOICE not in reply


async def test_a_channel_cannot_assert_an_identity_it_cannot_prove(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    assistant: Assistant = app.state.assistant
    with pytest.raises(UnprovenIdentity):
        await assistant.verify_identity(
            "web", "web-visitor", phone=DANA_PHONE, proof=IdentityProof.INTEGRATION_KEY
        )
    with pytest.raises(UnprovenIdentity):
        await assistant.verify_identity(
            "api", "kiosk-11", phone=DANA_PHONE, proof=IdentityProof.TELEGRAM_OWN_CONTACT
        )
    assert await _bound_patient(database, "web", "web-visitor") is None
    assert await _bound_patient(database, "api", "kiosk-11") is None
