"""The patient's own record as the agents' tools: the treatment plan (what is planned, what of it
is booked next), the allergies on file and the notes written for the patient, end to end through
`POST /api/v1/chat` in Hebrew and English for Alex and the team, on the built-in backend."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from serving.agents.context import TurnContext
from serving.agents.offline.nlu import Intent, Understanding
from serving.agents.offline.policy import decide
from serving.db import models as db
from serving.db.engine import Database
from serving.practice.builtin import BuiltinPracticeBackend
from serving.tools import langchain_tools
from tests.assistant_client import DANA_PHONE, JOHN_PHONE, Patient
from tests.chat_app import (  # noqa: F401
    EVERY_ARCHITECTURE_AND_LANGUAGE,
    architecture_fixture,
    chat_client_fixture,
    language_fixture,
)
from tests.clinic_time import today

YOSSI_PHONE = "+972521112233"
"""A demo patient with no plan, no allergies and no notes."""
ASK = {
    "plan": {
        "en": "could I see my treatment plan please",
        "he": "אפשר לראות את תוכנית הטיפול שלי?",
    },
    "allergies": {
        "en": "which allergies are recorded for me?",
        "he": "אילו אלרגיות רשומות אצלכם עליי?",
    },
    "notes": {
        "en": "do you have any notes for me from the clinic?",
        "he": "יש הערות בשבילי מהמרפאה?",
    },
}
DANAS_NOTE_FOR_HER = "נא להביא לביקור הבא את צילומי הרנטגן מהמרפאה הקודמת."
DANAS_STAFF_NOTE = "Anxious about injections"


def patient(client: httpx.AsyncClient, phone: str | None = DANA_PHONE) -> Patient:
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=phone)


def kinds(reply: dict[str, Any]) -> list[str]:
    return [action["type"] for action in reply["actions"]]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_the_treatment_plan_and_what_of_it_is_booked_next(
    client: httpx.AsyncClient, language: str
) -> None:
    dana = patient(client)
    plan = await dana.send(ASK["plan"][language])
    assert plan["intent"] == "treatment_plan" and "treatment_plan" in kinds(plan), plan
    planned = {"en": "Filling, tooth 37: planned", "he": "סתימה, שן 37: מתוכנן"}[language]
    done = {"en": "Filling, tooth 36: done", "he": "סתימה, שן 36: בוצע"}[language]
    assert planned in plan["reply"] and done in plan["reply"]
    assert {"en": "ask your dentist", "he": "פנו לרופא/ת השיניים"}[language] in plan["reply"]
    # Her checkup is not part of the plan: nothing is booked for it yet, so she may book it.
    assert [b["data"] for b in plan["buttons"]] == ["treat:filling"]

    offered = await dana.press(plan, "treat:filling")
    proposal = await dana.press(offered, "slot:")
    booked = await dana.press(proposal, "confirm:")
    assert "booked" in kinds(booked)

    again = await dana.send(ASK["plan"][language])
    booked_next = {"en": "Booked next for your plan:", "he": "התורים הבאים לטיפולים שבתוכנית:"}
    assert booked_next[language] in again["reply"]
    assert not [b for b in again["buttons"] if b["data"].startswith("treat:")]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_the_allergies_on_file_as_recorded(client: httpx.AsyncClient, language: str) -> None:
    reply = await patient(client).send(ASK["allergies"][language])
    assert reply["intent"] == "my_allergies" and "allergies" in kinds(reply), reply
    assert "penicillin" in reply["reply"] and "rash and swelling" in reply["reply"]
    assert {"en": "severity: severe", "he": "חומרה: חמורה"}[language] in reply["reply"]
    # Saying "allergy" is a matter for a dentist by the triage rules: one is asked to look too.
    assert reply["urgency"] == "DOCTOR_REQUIRED" and reply["escalation"] is not None

    nothing = await patient(client, JOHN_PHONE).send(ASK["allergies"][language])
    assert "no_allergies" in kinds(nothing) and "penicillin" not in nothing["reply"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_only_the_notes_written_for_the_patient(
    client: httpx.AsyncClient, language: str
) -> None:
    dana = await patient(client).send(ASK["notes"][language])
    assert dana["intent"] == "my_notes" and "notes" in kinds(dana), dana
    assert DANAS_NOTE_FOR_HER in dana["reply"]
    assert DANAS_STAFF_NOTE not in dana["reply"] and "morning visits" not in dana["reply"]

    john = await patient(client, JOHN_PHONE).send(ASK["notes"][language])
    assert "Please bring your insurance card to your next visit." in john["reply"]
    assert DANAS_NOTE_FOR_HER not in john["reply"]

    nobody = await patient(client, YOSSI_PHONE).send(ASK["notes"][language])
    assert "no_notes" in kinds(nobody)


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_without_a_verified_patient_the_record_is_refused(
    client: httpx.AsyncClient, language: str
) -> None:
    # Without the integration key the phone is not proven: nobody is bound.
    anonymous = Patient(client, user_id="web-visitor-2", phone=DANA_PHONE, trusted=False)
    for ask in ASK.values():
        reply = await anonymous.send(ask[language])
        assert "identity_required" in kinds(reply), reply
        for private in ("penicillin", "37", DANAS_NOTE_FOR_HER, DANAS_STAFF_NOTE):
            assert private not in reply["reply"]


UNSAFE_NOTES = [
    pytest.param("Take 2 tablets every 6 hours until the swelling settles.", "en", id="dose-en"),
    pytest.param("It looks like an abscess under the old crown.", "en", id="diagnosis-en"),
    pytest.param("ליטול 2 כדורים ביום עד שהנפיחות יורדת.", "he", id="dose-he"),
]


@pytest.mark.parametrize(("body", "language"), UNSAFE_NOTES)
async def test_a_note_with_clinical_advice_is_held_back_by_the_output_guard(
    client: httpx.AsyncClient, backend: BuiltinPracticeBackend, body: str, language: str
) -> None:
    [john] = await backend.search_patient(phone=JOHN_PHONE)
    await backend.add_patient_note(john.id, body, author="Reception", for_patient=True)
    reply = await patient(client, JOHN_PHONE).send(ASK["notes"][language])
    assert body not in reply["reply"] and "insurance card" not in reply["reply"]
    safe = {"en": "I can't give diagnoses", "he": "אינני נותן/ת אבחנות"}[language]
    assert safe in reply["reply"], reply


async def test_every_reply_read_from_the_record_passes_the_guard_as_it_is(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The record's own wording (a reaction, a severity, a medicine's name) is not advice: the
    guard lets the plain read-outs through."""
    dana = patient(client)
    for ask in ASK.values():
        await dana.send(ask["en"])
    async with database.transaction() as session:
        blocked = await session.scalar(select(db.GuardEvent.id).limit(1))
    assert blocked is None


def _context(agent: str) -> TurnContext:
    return TurnContext(
        agent=agent,
        language="en",
        today=today(),
        verified=True,
        urgency="ROUTINE",
        pending=None,
        offer_refs=(),
        awaiting_treatment=False,
        draft_treatment=None,
    )


@pytest.mark.parametrize(
    ("intent", "tool", "member"),
    [
        (Intent.TREATMENT_PLAN, "my_treatment_plan", "sarah"),
        (Intent.MY_ALLERGIES, "my_allergies", "michal"),
        (Intent.MY_NOTES, "my_notes", "michal"),
    ],
)
def test_each_record_tool_has_its_member_and_alex_has_all(
    intent: Intent, tool: str, member: str
) -> None:
    u = Understanding(language="en", intent=intent, confidence=0.9)
    names = {agent: frozenset(t.name for t in tools) for agent, tools in _team().items()}
    assert decide(u, _context("alex"), names["alex"]).calls == [(tool, {})]
    assert decide(u, _context("dana"), names["dana"]).calls == [(f"transfer_to_{member}", {})]
    assert decide(u, _context(member), names[member]).calls == [(tool, {})]
    assert [agent for agent, tools in names.items() if tool in tools] == ["alex", member]


def _team() -> dict[str, list[Any]]:
    return {"alex": langchain_tools.ALL_TOOLS, **langchain_tools.TEAM_TOOLS}
