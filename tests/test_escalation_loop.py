"""The dentist in the loop, in process: an escalation notifies the on-call dentist on every
channel (a real SMTP server, the Twilio and Bot API stand-ins) with one private link; an
EMERGENCY repeats until the link is opened; a failing channel is retried and never holds up
the others; the link opens one conversation and nothing else; while the dentist holds the
chat the assistant is silent but for the safety layer; the hand-back saves the transcript.
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from serving.app import create_app
from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import DoctorLink, EscalationNotification
from serving.db.types import utcnow
from serving.escalation.links import DoctorLinks
from serving.practice.builtin import BuiltinPracticeBackend
from serving.settings import Settings
from tests.asgi import running, served
from tests.doctor_loop import (
    DOCTOR_EMAIL,
    DOCTOR_PHONE,
    doctor_chat_texts,
    email_texts,
    escalation_settings,
    eventually,
    tokens_in,
)
from tests.smtp_server import SmtpServer, smtp_servers_fixture, tls_certificate_fixture  # noqa: F401
from tests.telegram_client import Bot, TelegramUser, texts
from tests.telegram_stand_in import BotApiStandIn, bot_api_fixture  # noqa: F401
from tests.twilio_stand_in import TwilioStandIn, twilio_fixture  # noqa: F401

DANA_PHONE = "+972501234567"
JOHN_PHONE = "+12025550143"
EMERGENCY = "My face is swelling up on one side and I am finding it hard to breathe"
QUESTION = "Is it normal that my gum still hurts three days after the filling?"


class Clock:
    """The app's "now": the real time, moved on (or back) by the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Clinic:
    bot: Bot
    client: httpx.AsyncClient
    smtp: SmtpServer
    twilio: TwilioStandIn
    clock: Clock
    database: Database

    @property
    def app(self) -> FastAPI:
        return self.bot.app

    async def patient(self, user_id: int, phone: str) -> TelegramUser:
        user = TelegramUser(self.bot, user_id)
        await user.share_contact(phone)
        return user

    async def notified_tokens(self, count: int) -> list[str]:
        """The tokens of the first `count` Telegram notices to the on-call dentist."""
        notices = await eventually(
            lambda: (found := doctor_chat_texts(self.bot.api)) and len(found) >= count and found,
            what=f"{count} Telegram notice(s) to the dentist",
        )
        return [tokens_in(text)[0] for text in notices[:count]]

    async def rounds_done(self, rounds: int) -> None:
        """Wait until the escalation's `rounds`-th notice round is finished and recorded."""

        async def done() -> bool:
            async with self.database.transaction() as session:
                found = await session.scalar(select(db.Escalation.notified_rounds))
            return found == rounds

        await eventually(done, what=f"notice round {rounds} to finish")

    async def notifications(self) -> list[EscalationNotification]:
        async with self.database.transaction() as session:
            rows = await session.scalars(
                select(EscalationNotification).order_by(EscalationNotification.id)
            )
            return list(rows.all())


@pytest.fixture
def smtp(smtp_servers: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_servers()


@asynccontextmanager
async def clinic_app(
    settings: Settings,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
    database: Database,
) -> AsyncIterator[Clinic]:
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with running(app) as client:
        yield Clinic(Bot(app, client, bot_api), client, smtp, twilio, clock, database)


@pytest.fixture
async def clinic(
    database_url: str,
    database: Database,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
) -> AsyncIterator[Clinic]:
    settings = escalation_settings(
        database_url, bot_api=bot_api, smtp=smtp, twilio=twilio, notification_backoff_seconds=0.01
    )
    async with clinic_app(settings, bot_api, smtp, twilio, database) as clinic:
        yield clinic


async def test_an_emergency_reaches_the_dentist_on_every_channel_with_a_private_link(
    clinic: Clinic,
) -> None:
    dana = await clinic.patient(7101, DANA_PHONE)

    answered = await dana.say(EMERGENCY)

    assert "101" in texts(answered)
    [token] = await clinic.notified_tokens(1)
    [email] = await eventually(lambda: email_texts(clinic.smtp), what="the e-mail")
    [sms] = await eventually(lambda: clinic.twilio.messages, what="the SMS")
    [chat] = doctor_chat_texts(clinic.bot.api)
    assert clinic.smtp.received[0].rcpt_tos == (DOCTOR_EMAIL,)
    assert sms.to == DOCTOR_PHONE
    for notice in (email, sms.body, chat):
        assert tokens_in(notice) == [token], notice
        assert "http://clinic.test/doctor/" in notice
        assert "Dana Levi" in notice
        assert "חירום" in notice  # the dentist reads Hebrew (the demo rota says so)
    assert "swelling" in email
    rows = await eventually(clinic.notifications, what="the notices recorded")
    assert sorted((r.channel, r.status, r.round, r.attempts) for r in rows) == [
        ("email", "sent", 1, 1),
        ("sms", "sent", 1, 1),
        ("telegram", "sent", 1, 1),
    ]
    assert {r.external_id for r in rows if r.channel == "sms"} == {sms.sid}
    async with clinic.database.transaction() as session:
        [link] = (await session.scalars(select(DoctorLink))).all()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) == 43  # 256 random bits
    assert link.expires_at - link.created_at == timedelta(hours=24)


async def test_emergency_reminders_repeat_until_a_dentist_opens_the_link(clinic: Clinic) -> None:
    dana = await clinic.patient(7102, DANA_PHONE)
    await dana.say(EMERGENCY)
    [first] = await clinic.notified_tokens(1)
    await clinic.rounds_done(1)

    clinic.clock.advance(timedelta(minutes=5, seconds=1))
    clinic.app.state.dispatcher.poke()
    first_again, second = await clinic.notified_tokens(2)
    assert first_again == first and second != first  # every round carries a fresh link
    assert "תזכורת 1" in doctor_chat_texts(clinic.bot.api)[1]
    await clinic.rounds_done(2)

    opened = await clinic.client.get(f"/api/v1/doctor/{first}")  # the first link still works
    assert opened.status_code == 200
    assert opened.json()["escalation"]["status"] == "claimed"
    clinic.clock.advance(timedelta(minutes=30))
    clinic.app.state.dispatcher.poke()
    assert await clinic.app.state.dispatcher.run_due() == 0
    assert len(doctor_chat_texts(clinic.bot.api)) == 2
    assert {r.round for r in await clinic.notifications()} == {1, 2}


async def test_a_failing_channel_is_retried_and_never_holds_up_the_others(clinic: Clinic) -> None:
    clinic.twilio.fail(500, 20500, times=100)
    clinic.smtp.refuse(DOCTOR_EMAIL)
    dana = await clinic.patient(7103, DANA_PHONE)

    await dana.say(QUESTION)

    await clinic.notified_tokens(1)  # Telegram got through
    rows = await eventually(clinic.notifications, what="the notices")
    by_channel = {r.channel: r for r in rows}
    assert by_channel["telegram"].status == "sent"
    assert (by_channel["sms"].status, by_channel["sms"].attempts) == ("failed", 3)
    assert by_channel["sms"].error is not None and "20500" in by_channel["sms"].error
    assert (by_channel["email"].status, by_channel["email"].attempts) == ("failed", 1)
    assert "550" in (by_channel["email"].error or "")
    for row in rows:
        assert DOCTOR_PHONE not in (row.error or "") and DOCTOR_EMAIL not in (row.error or "")
    metrics = (await clinic.client.get("/metrics")).text
    assert 'dental_escalation_notification_failures_total{channel="sms"} 1.0' in metrics
    assert 'dental_escalation_notification_failures_total{channel="email"} 1.0' in metrics
    assert 'dental_escalations_opened_total{urgency="DOCTOR_REQUIRED"} 1.0' in metrics


async def test_an_unusable_link_answers_clearly_and_shows_nothing(clinic: Clinic) -> None:
    dana = await clinic.patient(7104, DANA_PHONE)
    await dana.say(QUESTION)
    [token] = await clinic.notified_tokens(1)
    forged = secrets.token_urlsafe(32)

    for bad, status, error in ((forged, 404, "link_not_found"), ("abc", 404, "link_not_found")):
        answer = await clinic.client.get(f"/api/v1/doctor/{bad}")
        assert (answer.status_code, answer.json()["error"]) == (status, error)
        page = await clinic.client.get(f"/doctor/{bad}")
        assert page.status_code == status
        assert "Dana" not in page.text and "gum" not in page.text
    posted = await clinic.client.post(f"/api/v1/doctor/{forged}/messages", json={"text": "hi"})
    assert posted.status_code == 404

    await DoctorLinks(clinic.database).revoke(await _escalation_of_token(clinic.database, token))
    revoked = await clinic.client.get(f"/api/v1/doctor/{token}")
    assert (revoked.status_code, revoked.json()["error"]) == (410, "link_revoked")
    sent_before = len(clinic.bot.api.sent("sendMessage", dana.user_id))
    refused = await clinic.client.post(f"/api/v1/doctor/{token}/messages", json={"text": "hi"})
    assert refused.status_code == 410
    assert len(clinic.bot.api.sent("sendMessage", dana.user_id)) == sent_before


async def test_a_link_expires_after_a_day_and_dies_with_its_closed_escalation(
    clinic: Clinic,
) -> None:
    dana = await clinic.patient(7105, DANA_PHONE)
    await dana.say(QUESTION)
    [token] = await clinic.notified_tokens(1)

    clinic.clock.advance(timedelta(hours=24, seconds=1))
    expired = await clinic.client.get(f"/api/v1/doctor/{token}")
    assert (expired.status_code, expired.json()["error"]) == (410, "link_expired")
    page = await clinic.client.get(f"/doctor/{token}")
    assert page.status_code == 410 and "gum" not in page.text

    clinic.clock.advance(timedelta(hours=-24))
    closed = await clinic.client.post(f"/api/v1/doctor/{token}/close")
    assert closed.status_code == 200
    after = await clinic.client.get(f"/api/v1/doctor/{token}")
    assert (after.status_code, after.json()["error"]) == (410, "escalation_closed")
    again = await clinic.client.post(f"/api/v1/doctor/{token}/close")
    assert again.status_code == 410


async def test_a_link_opens_its_own_conversation_and_nothing_else(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dana = await clinic.patient(7106, DANA_PHONE)
    john = await clinic.patient(7107, JOHN_PHONE)
    await dana.say(QUESTION)
    [dana_token] = await clinic.notified_tokens(1)
    await john.say("My tooth broke and I need a dentist to look at it, it hurts a lot")
    _, john_token = await clinic.notified_tokens(2)

    view = (await clinic.client.get(f"/api/v1/doctor/{dana_token}")).json()
    shown = str(view)
    assert view["patient"]["phone"] == DANA_PHONE
    assert [a["substance"] for a in view["patient"]["allergies"]] == ["penicillin"]
    assert "gum still hurts" in shown and "tooth broke" not in shown and "John" not in shown
    john_view = (await clinic.client.get(f"/api/v1/doctor/{john_token}")).json()
    assert "tooth broke" in str(john_view) and "gum still hurts" not in str(john_view)

    # Dana's link cannot reach John's appointments, or book for anyone but Dana.
    backend = BuiltinPracticeBackend(clinic.database, clinic.app.state.practice._rules)
    [john_patient] = await backend.search_patient(phone=JOHN_PHONE)
    slot = (await backend.get_available_slots("checkup", *_next_week()))[0]
    johns = await backend.create_appointment(john_patient.id, "checkup", slot.starts_at)
    moved = await clinic.client.delete(f"/api/v1/doctor/{dana_token}/appointments/{johns.id}")
    assert (moved.status_code, moved.json()["error"]) == (404, "appointment_not_found")
    booked = await clinic.client.post(
        f"/api/v1/doctor/{dana_token}/appointments",
        json={"treatment": "checkup", "starts_at": slot.starts_at.isoformat()},
    )
    assert booked.status_code == 409  # John holds that time; nothing double-booked
    assert booked.json()["error"] == "slot_taken"

    # Every record of every logger, down to DEBUG (SQL parameters included): no token. (Only
    # its hash is ever in a query, and that opens nothing.)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for token in (dana_token, john_token):
        assert token not in logged


async def test_while_the_dentist_holds_the_chat_only_the_safety_layer_speaks(
    clinic: Clinic,
) -> None:
    dana = await clinic.patient(7108, DANA_PHONE)
    await dana.say(QUESTION)
    [token] = await clinic.notified_tokens(1)

    sent = await clinic.client.post(
        f"/api/v1/doctor/{token}/messages",
        json={"text": "Hello Dana, this is Dr. Cohen. Where exactly does it hurt?"},
    )
    assert sent.status_code == 201 and sent.json()["delivered"] is True
    assert sent.json()["message"]["role"] == "doctor"
    joined, message = [c.text for c in dana.new_calls() if c.method == "sendMessage"]
    assert "Dr. Avi Cohen" in joined and "has joined" in joined  # she writes in English
    assert message.startswith("Dr. Avi Cohen:\n") and "Where exactly" in message

    quiet = await dana.say("On the lower left, near the new filling")
    assert [c for c in quiet if c.method == "sendMessage"] == []
    emergency = await dana.say(EMERGENCY)
    assert "101" in texts(emergency)  # the safety layer still answers
    notices = await eventually(
        lambda: len(doctor_chat_texts(clinic.bot.api)) >= 2 and doctor_chat_texts(clinic.bot.api),
        what="the notice of the raised urgency",
    )
    assert "חירום" in notices[1]  # urgency rose: the dentist hears again

    metrics = (await clinic.client.get("/metrics")).text
    for opened_to in ("link_opened", "doctor_message"):
        line = f'dental_escalation_seconds_to_{opened_to}_count{{urgency="DOCTOR_REQUIRED"}} 1.0'
        assert line in metrics

    closed = await clinic.client.post(f"/api/v1/doctor/{token}/close")
    assert closed.json() == {"status": "closed", "transcript_saved": True}
    [left] = [c.text for c in dana.new_calls() if c.method == "sendMessage"]
    assert "handed the chat back to Alex" in left
    answered = await dana.say("Can I book a cleaning for next week?")
    assert texts(answered)  # the assistant answers again

    backend = clinic.app.state.practice
    [patient] = await backend.search_patient(phone=DANA_PHONE)
    transcript = (await backend.get_patient_notes(patient.id))[-1]
    assert transcript.author == "Dr. Avi Cohen"
    for line in ("gum still hurts", "Where exactly", "near the new filling", "swelling"):
        assert line in transcript.body
    async with clinic.database.transaction() as session:
        escalation = await session.scalar(
            select(db.Escalation).where(db.Escalation.status == "closed")
        )
        silent = await session.scalar(
            select(db.Message).where(db.Message.text == "On the lower left, near the new filling")
        )
    assert escalation is not None and escalation.transcript == transcript.body
    assert silent is not None and silent.intent == "held_by_doctor"


def _next_week() -> tuple[Any, Any]:
    start = (utcnow() + timedelta(days=7)).date()
    return start, start + timedelta(days=7)


async def test_the_dentist_books_moves_and_cancels_for_this_patient_only(clinic: Clinic) -> None:
    dana = await clinic.patient(7109, DANA_PHONE)
    await dana.say(QUESTION)
    [token] = await clinic.notified_tokens(1)
    backend = clinic.app.state.practice
    first_free = (await backend.get_available_slots("cleaning", *_next_week()))[0]
    day = first_free.starts_at.astimezone(ZoneInfo("Asia/Jerusalem")).date()
    before = (await clinic.client.get(f"/api/v1/doctor/{token}")).json()["patient"]

    slots = await clinic.client.get(
        f"/api/v1/doctor/{token}/slots", params={"treatment": "cleaning", "date": str(day)}
    )
    assert slots.status_code == 200
    first, later = slots.json()["slots"][0], slots.json()["slots"][-1]
    booked = await clinic.client.post(
        f"/api/v1/doctor/{token}/appointments",
        json={"treatment": "cleaning", "starts_at": first["starts_at"],
              "provider_id": first["provider_id"]},
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    appointment = booked.json()["appointment"]
    moved = await clinic.client.post(
        f"/api/v1/doctor/{token}/appointments/{appointment['id']}/move",
        json={"starts_at": later["starts_at"], "provider_id": later["provider_id"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["appointment"]["starts_at"] == later["starts_at"]
    listed = (await clinic.client.get(f"/api/v1/doctor/{token}")).json()["patient"]
    assert len(listed["appointments"]) == len(before["appointments"]) + 1
    cancelled = await clinic.client.delete(
        f"/api/v1/doctor/{token}/appointments/{appointment['id']}"
    )
    assert cancelled.status_code == 200
    after = (await clinic.client.get(f"/api/v1/doctor/{token}")).json()["patient"]
    assert after["appointments"] == before["appointments"]

    stranger = TelegramUser(clinic.bot, 7110)  # never said who they are
    await stranger.say(QUESTION)
    _, stranger_token = await clinic.notified_tokens(2)
    card = (await clinic.client.get(f"/api/v1/doctor/{stranger_token}")).json()["patient"]
    assert (card["id"], card["name"], card["phone"], card["allergies"]) == (None, None, None, [])
    refused = await clinic.client.get(
        f"/api/v1/doctor/{stranger_token}/slots", params={"treatment": "cleaning", "date": str(day)}
    )
    assert (refused.status_code, refused.json()["error"]) == (409, "patient_not_identified")


async def test_the_event_stream_is_live_and_ends_when_the_link_is_revoked(
    database_url: str,
    database: Database,
    bot_api: BotApiStandIn,
    smtp: SmtpServer,
    twilio: TwilioStandIn,
) -> None:
    settings = escalation_settings(database_url, bot_api=bot_api, smtp=smtp, twilio=twilio)
    app = create_app(settings)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
        dana = TelegramUser(Bot(app, client, bot_api), 7111)
        await dana.share_contact(DANA_PHONE)
        await dana.say(QUESTION)
        [notice] = await eventually(lambda: doctor_chat_texts(bot_api), what="the notice")
        [token] = tokens_in(notice)

        async with client.stream("GET", f"/api/v1/doctor/{token}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _sse_events(response.aiter_lines())
            await dana.say("It started after I bit on something hard")
            patient, assistant = [await anext(events), await anext(events)]  # and the reply
            assert patient[0] == "message" and patient[1]["role"] == "patient"
            assert patient[1]["text"] == "It started after I bit on something hard"
            assert assistant[0] == "message" and assistant[1]["role"] == "assistant"
            await DoctorLinks(database).revoke(await _escalation_of_token(database, token))
            assert await anext(events) == ("refused", {"error": "link_revoked"})
            assert [event async for event in events] == []  # the stream has ended


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event; comments skipped."""
    name = "message"
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))
            name = "message"


async def _escalation_of_token(database: Database, token: str) -> str:
    async with database.transaction() as session:
        found = await session.scalar(
            select(DoctorLink.escalation_id).where(
                DoctorLink.token_hash == hashlib.sha256(token.encode()).hexdigest()
            )
        )
    assert found is not None
    return found
