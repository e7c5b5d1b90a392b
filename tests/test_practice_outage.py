"""The practice system out of reach (PracticeUnavailable) or unable to show something
(PracticeMisconfigured) in any turn: the patient is told plainly and offered a call-back,
whose button opens an escalation to reception; nothing the failed step began is reported as
done. The real built-in backend runs behind a switch that makes chosen methods fail."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

import serving.app
from serving.assistant import IdentityProof, Inbound
from serving.db import models as db
from serving.db.engine import Database
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeError, PracticeMisconfigured, PracticeUnavailable
from serving.settings import Settings
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.chat_app import (  # noqa: F401
    CLINIC_MORNING,
    EVERY_ARCHITECTURE_AND_LANGUAGE,
    architecture_fixture,
    language_fixture,
)
from tests.clinic_time import today_from
from tests.conftest import make_settings

OUTAGE = PracticeUnavailable("the practice database is unavailable (OperationalError)")
NO_MAPPING = PracticeMisconfigured(
    "no field or model maps allergies: add x_allergies to res.partner or set the mapping"
)
UNREACHABLE = {
    "en": "the clinic's system can't be reached right now",
    "he": "אין כרגע גישה למערכת של המרפאה",
}
CANNOT_SHOW = {
    "en": "the clinic's system can't show that right now",
    "he": "המערכת של המרפאה לא יכולה להציג את המידע כרגע",
}
CALLED_BACK = {
    "en": "I've asked our reception to get back to you",
    "he": "ביקשתי מהקבלה של המרפאה לחזור אליך",
}


class SwitchablePractice:
    """The app's own backend, except the methods named in `failing`, which raise their error."""

    def __init__(self, backend: PracticeBackend) -> None:
        self._backend = backend
        self.failing: dict[str, PracticeError] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._backend, name)
        error = self.failing.get(name)
        if error is None:
            return attribute

        async def refuse(*args: object, **kwargs: object) -> Any:
            raise error

        return refuse


@dataclass
class Clinic:
    app: FastAPI
    http: httpx.AsyncClient
    practice: SwitchablePractice

    def patient(self, phone: str | None = DANA_PHONE) -> Patient:
        return Patient(self.http, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=phone)


@pytest.fixture
async def clinic(
    database_url: str, database: Database, architecture: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Clinic]:
    made: list[SwitchablePractice] = []
    build = serving.app.create_practice_backend

    def switchable(settings: Settings, database: Database, **kwargs: Any) -> PracticeBackend:
        made.append(SwitchablePractice(build(settings, database, **kwargs)))
        return made[-1]  # type: ignore[return-value]

    monkeypatch.setattr(serving.app, "create_practice_backend", switchable)
    settings = make_settings(
        database_url, integration_key=INTEGRATION_KEY, agent_architecture=architecture
    )
    app = serving.app.create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        yield Clinic(app, http, made[0])


def kinds(reply: dict[str, Any]) -> list[str]:
    return [action["type"] for action in reply["actions"]]


def callback_offered(reply: dict[str, Any]) -> bool:
    data = [b["data"] for b in reply["buttons"]]
    return len(data) == 1 and data[0].startswith("callback:")


async def _escalation(database: Database, escalation_id: str) -> db.Escalation:
    async with database.transaction() as session:
        row = await session.get(db.Escalation, escalation_id)
    assert row is not None
    return row


async def _scheduled(database: Database, phone: str) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(db.Appointment)
            .join(db.Patient)
            .where(db.Patient.phone == phone, db.Appointment.status == "scheduled")
        )
    return int(count or 0)


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_an_outage_is_said_plainly_and_the_call_back_reaches_reception(
    clinic: Clinic, database: Database, language: str
) -> None:
    clinic.practice.failing["get_patient_invoices"] = OUTAGE
    dana = clinic.patient()
    asked = {"en": "how much do I still owe you?", "he": "כמה אני עוד חייבת לכם?"}[language]
    down = await dana.send(asked)
    assert UNREACHABLE[language] in down["reply"], down
    assert "practice_unavailable" in kinds(down) and callback_offered(down)
    assert down["escalation"] is None, "nobody is asked before the patient wants it"

    called = await dana.press(down, "callback:")
    assert CALLED_BACK[language] in called["reply"] and "callback_requested" in kinds(called)
    assert called["escalation"] is not None and called["escalation"]["urgency"] == "ROUTINE"
    escalation = await _escalation(database, called["escalation"]["id"])
    assert escalation.last_summary == (
        "Call-back requested: the clinic's practice system could not be reached while the "
        "patient was trying to see their invoices."
    )
    # Once: the same button again acts on nothing.
    await dana.send(button=down["buttons"][0]["data"], expect=409)


@pytest.mark.parametrize("language", ["en", "he"])
async def test_a_booking_that_failed_is_not_reported_as_booked(
    clinic: Clinic, database: Database, language: str
) -> None:
    john = clinic.patient(JOHN_PHONE)
    before = await _scheduled(database, JOHN_PHONE)
    asked = {"en": "I'd like to book a checkup", "he": "אני רוצה לקבוע בדיקה תקופתית"}[language]
    proposal = await john.press(await john.send(asked), "slot:")
    clinic.practice.failing["create_appointment"] = OUTAGE
    failed = await john.press(proposal, "confirm:")
    assert "booked" not in kinds(failed) and UNREACHABLE[language] in failed["reply"]
    assert {"en": "booked", "he": "נקבע"}[language] not in failed["reply"]
    assert callback_offered(failed)
    assert await _scheduled(database, JOHN_PHONE) == before

    called = await john.press(failed, "callback:")
    escalation = await _escalation(database, called["escalation"]["id"])
    assert escalation.last_summary.endswith("while the patient was trying to book an appointment.")
    assert "checkup" not in escalation.last_summary


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_a_mapping_the_system_lacks_is_said_plainly_too(
    clinic: Clinic, database: Database, language: str
) -> None:
    clinic.practice.failing["get_patient_allergies"] = NO_MAPPING
    dana = clinic.patient()
    asked = {"en": "what allergies do you have on file for me", "he": "אילו אלרגיות רשומות לי?"}
    reply = await dana.send(asked[language])
    assert CANNOT_SHOW[language] in reply["reply"] and callback_offered(reply), reply
    assert "penicillin" not in reply["reply"]
    called = await dana.press(reply, "callback:")
    # Asking about allergies had already asked a dentist (triage): the call-back joins that
    # escalation as its latest request.
    escalation = await _escalation(database, called["escalation"]["id"])
    assert escalation.last_summary == (
        "Call-back requested: the clinic's practice system could not show what was asked "
        "while the patient was trying to see the allergies on their file."
    )


async def test_when_who_is_writing_cannot_be_checked(clinic: Clinic, database: Database) -> None:
    """The keyed API's identity look-up fails: the turn is answered anonymously (binding
    cleared, nothing of anyone's shown), and an emergency still gets its reply."""
    dana = clinic.patient()
    await dana.send("when is my next appointment?")
    clinic.practice.failing["search_patient"] = OUTAGE
    down = await dana.send("when is my next appointment?")
    assert UNREACHABLE["en"] in down["reply"] and callback_offered(down)
    async with database.transaction() as session:
        conversation = await session.get(db.Conversation, down["conversation_id"])
    assert conversation is not None and conversation.patient_id is None

    emergency = await dana.send("my face is swelling and I can't breathe")
    assert emergency["urgency"] == "EMERGENCY" and "101" in emergency["reply"]

    called = await dana.press(down, "callback:")
    assert called["escalation"] is not None and CALLED_BACK["en"] in called["reply"]


async def test_a_bound_patient_who_cannot_be_read_gets_the_call_back(clinic: Clinic) -> None:
    """A Telegram chat bound to a patient: the practice system fails to read them back."""
    assistant = clinic.app.state.assistant
    await assistant.verify_identity(
        "telegram", "tg-77", phone=DANA_PHONE, proof=IdentityProof.TELEGRAM_OWN_CONTACT
    )
    clinic.practice.failing["get_patient"] = OUTAGE
    reply = await assistant.respond(Inbound("telegram", "tg-77", text="show me my invoices"))
    assert UNREACHABLE["en"] in reply.text and "practice_unavailable" in reply.actions
    [button] = reply.buttons
    called = await assistant.respond(Inbound("telegram", "tg-77", button=button.data))
    assert called.escalation is not None and called.escalation[1] == "ROUTINE"


async def test_a_treatment_button_during_an_outage(clinic: Clinic) -> None:
    dana = clinic.patient()
    asked = await dana.send("I need an appointment")
    clinic.practice.failing["list_treatment_types"] = OUTAGE
    pressed = await dana.press(asked, "treat:")
    assert UNREACHABLE["en"] in pressed["reply"] and callback_offered(pressed)


@pytest.mark.parametrize(("db_backend", "architecture"), [("sqlite", "alex")], indirect=True)
async def test_the_reason_is_logged_without_the_patient(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clinic.practice.failing["get_patient_allergies"] = NO_MAPPING
    asked = "which allergies are recorded for me?"
    await clinic.patient().send(asked)
    [record] = [r for r in caplog.records if r.getMessage() == "practice system unavailable"]
    assert record.__dict__["reason"] == str(NO_MAPPING)
    assert record.__dict__["error"] == "PracticeMisconfigured"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for private in (DANA_PHONE, "501234567", "Dana", "penicillin", asked):
        assert private not in logged
