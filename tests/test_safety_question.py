"""The safety question end to end through `POST /api/v1/chat` (SQLite and PostgreSQL): asked
with Yes/No buttons when triage sees a possible danger short of a red flag; Yes is an
emergency, No carries on with the doctor-required path, an emergency is never held behind it,
and the answer is stored on the patient's message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from serving.app import create_app
from serving.db import models as db
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, Patient
from tests.conftest import make_settings

DANGER = {
    "en": "my gum has been getting worse fast since this morning",
    "he": "החניכיים שלי הולכות ומחמירות מהבוקר",
}
QUESTION = {"en": "unconscious", "he": "מחוסר הכרה"}
YES = {"en": "yes", "he": "כן"}
NO = {"en": "no", "he": "לא"}
DOCTOR_REPLY = {"en": "a dentist should look at", "he": "רופא/ת שיניים צריכ/ה לבדוק"}
SAFETY_BUTTONS = ["safety:yes", "safety:no"]


@pytest.fixture(params=["en", "he"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _app(database_url: str, database: Database) -> Any:
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    return create_app(settings, database=database)


@pytest.fixture
async def client(database_url: str, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(_app(database_url, database)) as http:
        yield http


def _patient(client: httpx.AsyncClient) -> Patient:
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}")


async def _patient_messages(database: Database, conversation_id: str) -> list[db.Message]:
    async with database.transaction() as session:
        rows = await session.scalars(
            select(db.Message)
            .where(db.Message.conversation_id == conversation_id, db.Message.role == "patient")
            .order_by(db.Message.id)
        )
        return list(rows)


async def _escalation(database: Database, conversation_id: str) -> db.Escalation:
    async with database.transaction() as session:
        [row] = (
            await session.scalars(
                select(db.Escalation).where(db.Escalation.conversation_id == conversation_id)
            )
        ).all()
        return row


async def _ask(patient: Patient, language: str) -> dict[str, Any]:
    asked = await patient.send(DANGER[language])
    assert asked["urgency"] == "DOCTOR_REQUIRED"
    assert QUESTION[language] in asked["reply"]
    assert [b["data"] for b in asked["buttons"]] == SAFETY_BUTTONS
    assert "safety_question" in [a["type"] for a in asked["actions"]]
    assert asked["escalation"]["urgency"] == "DOCTOR_REQUIRED", "the urgency's escalation opens"
    return asked


async def test_yes_is_an_emergency_even_after_a_restart(
    database_url: str, database: Database, language: str
) -> None:
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    async with running(_app(database_url, database)) as first:
        asked = await _ask(Patient(first, user_id=user_id), language)
    # Another process answers the next message: the pending question is in the database.
    async with running(_app(database_url, database)) as second:
        answered = await Patient(second, user_id=user_id).send(button="safety:yes")
    assert answered["urgency"] == "EMERGENCY"
    assert answered["intent"] == "emergency"
    assert "101" in answered["reply"]
    assert answered["escalation"] == {"id": asked["escalation"]["id"], "urgency": "EMERGENCY"}
    assert "emergency_escalation" in [a["type"] for a in answered["actions"]]
    escalation = await _escalation(database, asked["conversation_id"])
    assert escalation.urgency == "EMERGENCY"
    assert escalation.reasons == "fail_safe.safety_question_yes"
    messages = await _patient_messages(database, asked["conversation_id"])
    assert [(m.button, m.safety_answer) for m in messages] == [
        (None, None),
        ("safety:yes", "yes"),
    ]


async def test_a_typed_yes_is_an_emergency(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    patient = _patient(client)
    asked = await _ask(patient, language)
    answered = await patient.send(YES[language])
    assert answered["urgency"] == "EMERGENCY" and "101" in answered["reply"]
    messages = await _patient_messages(database, asked["conversation_id"])
    assert messages[-1].safety_answer == "yes" and messages[-1].urgency == "EMERGENCY"


@pytest.mark.parametrize("how", ["button", "text"])
async def test_no_carries_on_with_the_doctor_required_path(
    client: httpx.AsyncClient, database: Database, language: str, how: str
) -> None:
    patient = _patient(client)
    asked = await _ask(patient, language)
    if how == "button":
        answered = await patient.send(button="safety:no")
    else:
        answered = await patient.send(NO[language])
    assert answered["urgency"] == "DOCTOR_REQUIRED"
    assert DOCTOR_REPLY[language] in answered["reply"]
    assert QUESTION[language] not in answered["reply"], "not asked again for that message"
    assert not any(b["data"].startswith("safety:") for b in answered["buttons"])
    assert "doctor_escalation" in [a["type"] for a in answered["actions"]]
    assert answered["escalation"] == asked["escalation"], "it attaches to the one escalation"
    escalation = await _escalation(database, asked["conversation_id"])
    assert escalation.urgency == "DOCTOR_REQUIRED"
    messages = await _patient_messages(database, asked["conversation_id"])
    assert messages[-1].safety_answer == "no"
    # Answered: a "no" pressed again is stale, not a second answer.
    await patient.send(button="safety:no", expect=409)


async def test_an_emergency_while_the_question_waits_is_an_emergency(
    client: httpx.AsyncClient, database: Database
) -> None:
    patient = _patient(client)
    asked = await _ask(patient, "en")
    emergency = await patient.send("now she is choking and can't swallow")
    assert emergency["urgency"] == "EMERGENCY" and "101" in emergency["reply"]
    escalation = await _escalation(database, asked["conversation_id"])
    assert escalation.urgency == "EMERGENCY"
    assert escalation.reasons.startswith("emergency."), "the rules' own emergency"
    messages = await _patient_messages(database, asked["conversation_id"])
    assert messages[-1].safety_answer is None


async def test_another_message_drops_the_question(
    client: httpx.AsyncClient, database: Database
) -> None:
    patient = _patient(client)
    asked = await _ask(patient, "en")
    other = await patient.send("what are your opening hours on friday")
    assert other["intent"] == "clinic_info" and other["urgency"] == "ROUTINE"
    # The question was dropped: "no" is stale, and a later "yes" is not read as its answer.
    await patient.send(button="safety:no", expect=409)
    later = await patient.send("yes")
    assert later["urgency"] == "ROUTINE"
    messages = await _patient_messages(database, asked["conversation_id"])
    assert all(m.safety_answer is None for m in messages)


async def test_a_yes_is_never_stale(client: httpx.AsyncClient) -> None:
    """Someone in danger is never told the button expired: "Yes" always reaches the
    emergency reply, even with no question waiting (a first contact included)."""
    answered = await _patient(client).send(button="safety:yes")
    assert answered["urgency"] == "EMERGENCY" and "101" in answered["reply"]
    assert answered["escalation"]["urgency"] == "EMERGENCY"
    await _patient(client).send(button="safety:no", expect=409)
