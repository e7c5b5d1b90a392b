"""The web chat's phone verification (issue 14): a code sent by SMS through the Twilio stand-in,
read back from the message it received, and typed into `POST /api/v1/web/identity/verify`;
then the visitor's conversation goes on through `POST /api/v1/chat` as that patient. SQLite,
and the whole happy path once more on PostgreSQL (the code's upsert and row lock differ)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from serving.app import create_app
from serving.assistant import Assistant, IdentityProof, UnprovenIdentity
from serving.db import models as db
from serving.db.engine import Database
from serving.db.identity_models import WebIdentityCode
from serving.db.types import utcnow
from serving.settings import Settings
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, JOHN_PHONE, Patient
from tests.conftest import make_settings
from tests.twilio_stand_in import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, twilio_fixture  # noqa: F401

CODE_URL = "/api/v1/web/identity/code"
VERIFY_URL = "/api/v1/web/identity/verify"
CLINIC_SMS_NUMBER = "+15005550006"
DANA_LOCAL = "050-123-4567"
"""Dana's phone as an Israeli visitor types it."""
NOBODYS_PHONE = "+972501111999"
"""A dialable number no patient of the demo clinic has."""
DANAS_INVOICE = "INV/2026/0042"
BALANCE = "how much do I owe?"
SQLITE_ONLY = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


class Clock:
    """The app's "now", moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def sms_settings(database_url: str, twilio: TwilioStandIn, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from=CLINIC_SMS_NUMBER,
        twilio_api_base_url=twilio.base_url,
        **overrides,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_url: str, database: Database, twilio: TwilioStandIn, clock: Clock) -> FastAPI:
    return create_app(sms_settings(database_url, twilio), database=database, clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app) as http:
        yield http


@dataclass
class Visitor:
    """One web chat page: its random visitor id, the codes it asks for, the chat it writes."""

    client: httpx.AsyncClient
    twilio: TwilioStandIn
    user_id: str

    @classmethod
    def new(cls, client: httpx.AsyncClient, twilio: TwilioStandIn) -> Visitor:
        return cls(client, twilio, f"web-{uuid.uuid4().hex}")

    async def ask_code(
        self, phone: str, *, language: str = "en", expect: int = 200
    ) -> dict[str, Any]:
        body = {"user_id": self.user_id, "phone": phone, "language": language}
        response = await self.client.post(CODE_URL, json=body)
        assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def verify(
        self, phone: str, code: str, *, expect: int = 200, language: str = "en"
    ) -> dict[str, Any]:
        body = {"user_id": self.user_id, "phone": phone, "code": code, "language": language}
        response = await self.client.post(VERIFY_URL, json=body)
        assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def say(self, text: str) -> dict[str, Any]:
        return await Patient(self.client, user_id=self.user_id, trusted=False).send(text)

    async def press(self, reply: dict[str, Any], prefix: str) -> dict[str, Any]:
        return await Patient(self.client, user_id=self.user_id, trusted=False).press(reply, prefix)


def codes_sent_to(twilio: TwilioStandIn, phone: str) -> list[str]:
    """The codes in the SMS the stand-in received for `phone`, oldest first."""
    codes = []
    for message in twilio.messages:
        if message.to == phone:
            match = re.search(r"\b(\d{6})\b", message.body)
            assert match, "a code SMS carries a 6-digit code"
            codes.append(match[1])
    return codes


def last_code(twilio: TwilioStandIn, phone: str) -> str:
    codes = codes_sent_to(twilio, phone)
    assert codes, "no code was sent to this phone"
    return codes[-1]


def another_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def bound_patient(database: Database, user_id: str) -> int | None:
    async with database.transaction() as session:
        return await session.scalar(
            select(db.Conversation.patient_id).where(
                db.Conversation.channel == "web", db.Conversation.external_user_id == user_id
            )
        )


async def patient_id(database: Database, phone: str) -> int:
    async with database.transaction() as session:
        found = await session.scalar(select(db.Patient.id).where(db.Patient.phone == phone))
    assert found is not None
    return found


async def scheduled_appointments(database: Database, phone: str) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(db.Appointment)
            .join(db.Patient, db.Appointment.patient_id == db.Patient.id)
            .where(db.Patient.phone == phone, db.Appointment.status == "scheduled")
        )
    return int(count or 0)


# --- the happy path ------------------------------------------------------------------------


async def test_a_verified_web_patient_books_and_sees_their_invoices(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    anonymous = await visitor.say(BALANCE)
    assert DANAS_INVOICE not in anonymous["reply"]
    assert "identity_required" in [a["type"] for a in anonymous["actions"]]

    assert await visitor.ask_code(DANA_LOCAL) == {"sent": True, "expires_in_seconds": 300}
    await visitor.ask_code(DANA_LOCAL)  # a new code replaces the first
    first, second = codes_sent_to(twilio, DANA_PHONE)
    sms = twilio.messages[-1]
    assert sms.from_ == CLINIC_SMS_NUMBER
    assert "verify your phone" in sms.body and "5 minutes" in sms.body
    if first != second:
        replaced = await visitor.verify(DANA_LOCAL, first, expect=422)
        assert replaced["error"] == "wrong_code"

    verified = await visitor.verify(DANA_LOCAL, second)
    assert verified["verified"] is True
    assert "Dana" in verified["reply"] and "verified" in verified["reply"]
    assert "quick:book" in [b["data"] for b in verified["buttons"]]
    assert await bound_patient(database, visitor.user_id) == await patient_id(database, DANA_PHONE)

    invoices = await visitor.say(BALANCE)
    assert DANAS_INVOICE in invoices["reply"]

    before = await scheduled_appointments(database, DANA_PHONE)
    offered = await visitor.say("hi I want to book a cleaning next week")
    assert offered["intent"] == "book_appointment"
    proposal = await visitor.press(offered, "slot:")
    booked = await visitor.press(proposal, "confirm:")
    assert "booked" in [a["type"] for a in booked["actions"]]
    assert await scheduled_appointments(database, DANA_PHONE) == before + 1

    used = await visitor.verify(DANA_LOCAL, second, expect=422)
    assert used["error"] == "code_expired", "a code works once"
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(WebIdentityCode)) == 0


# --- codes that bind nothing ---------------------------------------------------------------


@SQLITE_ONLY
async def test_a_wrong_code_binds_nothing_and_the_right_one_still_works(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    await visitor.ask_code(JOHN_PHONE)
    code = last_code(twilio, JOHN_PHONE)

    wrong = await visitor.verify(JOHN_PHONE, another_code(code), expect=422)
    assert wrong["error"] == "wrong_code" and wrong["attempts_left"] == 4
    assert await bound_patient(database, visitor.user_id) is None

    assert (await visitor.verify(JOHN_PHONE, code))["verified"] is True
    assert await bound_patient(database, visitor.user_id) == await patient_id(database, JOHN_PHONE)


@SQLITE_ONLY
async def test_five_wrong_codes_use_the_code_up(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    await visitor.ask_code(DANA_PHONE)
    code = last_code(twilio, DANA_PHONE)
    wrong = another_code(code)

    left = [(await visitor.verify(DANA_PHONE, wrong, expect=422))["attempts_left"] for _ in "1234"]
    assert left == [4, 3, 2, 1]
    fifth = await visitor.verify(DANA_PHONE, wrong, expect=422)
    assert fifth["error"] == "too_many_attempts" and "attempts_left" not in fifth

    burned = await visitor.verify(DANA_PHONE, code, expect=422)
    assert burned["error"] == "code_expired", "the right code no longer works"
    assert await bound_patient(database, visitor.user_id) is None


@SQLITE_ONLY
async def test_a_code_works_for_five_minutes(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn, clock: Clock
) -> None:
    visitor = Visitor.new(client, twilio)
    await visitor.ask_code(DANA_PHONE)
    clock.now += timedelta(minutes=5, seconds=1)
    expired = await visitor.verify(DANA_PHONE, last_code(twilio, DANA_PHONE), expect=422)
    assert expired["error"] == "code_expired"
    assert await bound_patient(database, visitor.user_id) is None

    await visitor.ask_code(DANA_PHONE)
    clock.now += timedelta(minutes=4, seconds=59)
    assert (await visitor.verify(DANA_PHONE, last_code(twilio, DANA_PHONE)))["verified"] is True


@SQLITE_ONLY
async def test_another_patients_phone_cannot_be_bound_without_its_code(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    intruder = Visitor.new(client, twilio)
    await intruder.ask_code(DANA_PHONE)  # the code goes to Dana's phone, not to the intruder
    guess = last_code(twilio, DANA_PHONE)
    for _ in range(3):
        guess = another_code(guess)
        refused = await intruder.verify(DANA_PHONE, guess, expect=422)
        assert refused["error"] == "wrong_code"
    assert await bound_patient(database, intruder.user_id) is None

    dana = Visitor.new(client, twilio)
    await dana.ask_code(DANA_PHONE)
    danas_code = last_code(twilio, DANA_PHONE)
    stolen = await intruder.verify(DANA_PHONE, danas_code, expect=422)
    assert stolen["error"] == "code_expired", "a code works only for the visitor who asked"
    assert await bound_patient(database, intruder.user_id) is None
    assert DANAS_INVOICE not in (await intruder.say(BALANCE))["reply"]

    assert (await dana.verify(DANA_PHONE, danas_code))["verified"] is True


@SQLITE_ONLY
async def test_an_unknown_phone_gets_the_same_answer_and_binds_nobody(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    await visitor.ask_code(JOHN_PHONE)
    await visitor.verify(JOHN_PHONE, last_code(twilio, JOHN_PHONE))
    assert await bound_patient(database, visitor.user_id) is not None

    patients = await visitor.ask_code(DANA_PHONE)
    nobody = await visitor.ask_code(NOBODYS_PHONE)
    assert nobody == patients, "the answer does not tell whether the phone is a patient's"
    assert len(codes_sent_to(twilio, NOBODYS_PHONE)) == 1

    unknown = await visitor.verify(NOBODYS_PHONE, last_code(twilio, NOBODYS_PHONE))
    assert unknown["verified"] is False and unknown["buttons"] == []
    assert "couldn't find a patient record" in unknown["reply"]
    assert await bound_patient(database, visitor.user_id) is None, "the earlier patient is gone"
    assert "INV/2026/0017" not in (await visitor.say(BALANCE))["reply"]


# --- limits and bad input ------------------------------------------------------------------


@SQLITE_ONLY
async def test_codes_are_limited_per_phone(
    client: httpx.AsyncClient, twilio: TwilioStandIn
) -> None:
    visitors = [Visitor.new(client, twilio) for _ in range(4)]
    for visitor in visitors[:3]:
        await visitor.ask_code(DANA_PHONE)
    response = await client.post(
        CODE_URL, json={"user_id": visitors[3].user_id, "phone": DANA_LOCAL, "language": "he"}
    )
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 900
    assert len(codes_sent_to(twilio, DANA_PHONE)) == 3
    await visitors[3].ask_code(JOHN_PHONE)  # another phone from the same address still works


@SQLITE_ONLY
async def test_codes_are_limited_per_address(
    client: httpx.AsyncClient, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    phones = [f"+9725020000{n:02d}" for n in range(11)]
    for phone in phones[:10]:
        await visitor.ask_code(phone)
    refused = await visitor.ask_code(phones[10], expect=429)
    assert refused["error"] == "rate_limited"
    assert len(twilio.messages) == 10


@SQLITE_ONLY
async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    visitor = Visitor.new(client, twilio)
    not_a_phone = await visitor.ask_code("0000", expect=422)
    assert not_a_phone["error"] == "invalid_request" and "0000" not in not_a_phone["message"]
    bodies: list[dict[str, object]] = [
        {"user_id": "visitor-1", "phone": DANA_PHONE},
        {"user_id": visitor.user_id, "phone": DANA_PHONE, "language": "fr"},
        {"user_id": visitor.user_id, "phone": DANA_PHONE, "extra": 1},
        {"user_id": visitor.user_id},
    ]
    for body in bodies:
        assert (await client.post(CODE_URL, json=body)).status_code == 422
    assert (await client.post(CODE_URL, content=b"not json")).status_code == 422
    assert twilio.messages == []

    await visitor.ask_code(DANA_PHONE)
    code = last_code(twilio, DANA_PHONE)
    for malformed in ("12345", "1234567", "12345a", "١٢٣٤٥٦"):
        refused = await visitor.verify(DANA_PHONE, malformed, expect=422)
        assert refused["error"] == "invalid_request"
    wrong = await visitor.verify(DANA_PHONE, another_code(code), expect=422)
    assert wrong["attempts_left"] == 4, "malformed codes were not counted as tries"
    assert await bound_patient(database, visitor.user_id) is None
    assert (await visitor.verify(DANA_PHONE, code))["verified"] is True


@SQLITE_ONLY
async def test_the_sms_follows_the_visitors_language(
    client: httpx.AsyncClient, twilio: TwilioStandIn
) -> None:
    await Visitor.new(client, twilio).ask_code(DANA_PHONE, language="he")
    assert "הקוד תקף 5 דקות" in twilio.messages[-1].body
    await Visitor.new(client, twilio).ask_code(JOHN_PHONE, language="en")
    assert "It works for 5 minutes" in twilio.messages[-1].body


@SQLITE_ONLY
async def test_neither_the_phone_nor_the_code_is_logged(
    client: httpx.AsyncClient, twilio: TwilioStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at INFO (the service's default), and the app's own DEBUG too; database
    # drivers' DEBUG lines quote every query's parameters, for any patient lookup.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="serving")
    visitor = Visitor.new(client, twilio)
    await visitor.ask_code(DANA_LOCAL)
    code = last_code(twilio, DANA_PHONE)
    await visitor.verify(DANA_LOCAL, another_code(code), expect=422)
    await visitor.verify(DANA_LOCAL, code)
    twilio.fail(400, 21211, message="The 'To' number {to} is not a valid phone number.")
    failed = await visitor.ask_code(JOHN_PHONE, expect=503)
    assert failed["error"] == "code_not_sent"

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "web identity code sent" in logged and "twilio 21211" in logged
    for secret in (code, another_code(code), DANA_PHONE, "501234567", JOHN_PHONE, "2025550143"):
        assert secret not in logged


@SQLITE_ONLY
async def test_a_code_the_provider_refused_is_not_left_waiting(
    client: httpx.AsyncClient, database: Database, twilio: TwilioStandIn
) -> None:
    twilio.fail(503, 20500)
    await Visitor.new(client, twilio).ask_code(DANA_PHONE, expect=503)
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(WebIdentityCode)) == 0


@SQLITE_ONLY
async def test_without_an_sms_provider_verification_is_not_offered(
    database_url: str, database: Database
) -> None:
    app = create_app(make_settings(database_url), database=database)
    async with running(app) as client:
        user_id = f"web-{uuid.uuid4().hex}"
        sent = await client.post(CODE_URL, json={"user_id": user_id, "phone": DANA_PHONE})
        checked = await client.post(
            VERIFY_URL, json={"user_id": user_id, "phone": DANA_PHONE, "code": "123456"}
        )
        page = await client.get("/")
    for response in (sent, checked):
        assert response.status_code == 503
        assert response.json() == {
            "error": "phone_verification_unavailable",
            "message": "phone verification is not available",
        }
    assert 'id="verify-phone"' not in page.text


@SQLITE_ONLY
async def test_only_the_web_chat_proves_a_phone_by_sms_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assistant: Assistant = app.state.assistant
    for channel in ("api", "telegram"):
        with pytest.raises(UnprovenIdentity):
            await assistant.verify_identity(
                channel, "someone", phone=DANA_PHONE, proof=IdentityProof.SMS_CODE
            )
    page = await client.get("/")
    assert 'id="verify-phone"' in page.text
