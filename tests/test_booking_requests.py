"""End to end through `POST /api/v1/chat`: booking requests keep what the patient asked for.

A provider by name, a part of the day or an hour, a date range, several constraints at once,
a request the clinic cannot meet (answered with what could not be met and the nearest times),
and refinements of the times offered, in Hebrew and English, for both architectures. Every
offered time is checked against the constraint in the conversation's stored offer, not in the
reply's wording. The demo clinic: Dr. Cohen works Sun-Thu (Wed 12-20), Dr. Mizrahi Sun, Mon,
Tue, Thu 12-20 and Fri 8-13, the hygienist Sun-Thu 8-15; Dr. Cohen does no cleanings.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from serving.conversation.state import ConversationState, OfferedSlot
from serving.db import models as db
from serving.db.engine import Database
from tests.assistant_client import DANA_PHONE, JOHN_PHONE, Patient
from tests.chat_app import (  # noqa: F401
    EVERY_ARCHITECTURE_AND_LANGUAGE,
    architecture_fixture,
    chat_client_fixture,
    language_fixture,
)
from tests.clinic_time import CLINIC_TZ, THURSDAY, WEDNESDAY, today

pytestmark = EVERY_ARCHITECTURE_AND_LANGUAGE

COHEN, MIZRAHI = "Dr. Avi Cohen", "Dr. Rivka Mizrahi"
SUNDAY_INDEX = 6


def john(client: httpx.AsyncClient) -> Patient:
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=JOHN_PHONE)


async def offered(database: Database, who: Patient) -> list[OfferedSlot]:
    """The times the conversation holds as offered, as the buttons refer to them."""
    async with database.transaction() as session:
        row = await session.scalar(
            select(db.Conversation).where(db.Conversation.external_user_id == who.user_id)
        )
        assert row is not None
        state = ConversationState.model_validate(row.state)
    return state.offer.slots if state.offer else []


def local(slot: OfferedSlot) -> datetime:
    return slot.starts_at.astimezone(CLINIC_TZ)


def kinds(reply: dict[str, Any]) -> list[str]:
    return [action["type"] for action in reply["actions"]]


async def ask(
    database: Database, who: Patient, text: str
) -> tuple[dict[str, Any], list[OfferedSlot]]:
    reply = await who.send(text)
    slots = await offered(database, who)
    return reply, slots


SAY = {
    "provider": {
        "en": "Can I see Dr. Mizrahi for a filling?",
        "he": 'אפשר לקבוע סתימה אצל ד"ר מזרחי?',
    },
    "evening": {
        "en": "I'd like a checkup next week, after 5pm if possible",
        "he": "אני רוצה בדיקה תקופתית בשבוע הבא, אחרי חמש",
    },
    "before_ten": {
        "en": "checkup please, mornings before 10",
        "he": "בדיקה תקופתית בבקשה, בבוקר לפני 10",
    },
    "next_month": {
        "en": "could I book a checkup sometime next month",
        "he": "אפשר לקבוע בדיקה תקופתית בחודש הבא",
    },
    "combined": {
        "en": "in two weeks, Thursday morning, a checkup with Dr Cohen",
        "he": 'בעוד שבועיים ביום חמישי בבוקר, בדיקה אצל ד"ר כהן',
    },
    "impossible": {
        "en": "a filling with Dr. Mizrahi on Wednesday please",
        "he": 'סתימה אצל ד"ר מזרחי ביום רביעי בבקשה',
    },
    "cannot_treat": {
        "en": "I want a cleaning with Dr. Cohen",
        "he": 'אני רוצה ניקוי אבנית אצל ד"ר כהן',
    },
    "unknown": {
        "en": "can I book a checkup with Dr. Levinson",
        "he": 'אפשר לקבוע בדיקה אצל ד"ר לוינסון',
    },
    "later": {"en": "something later in the day?", "he": "יש משהו יותר מאוחר?"},
    "someone_else": {"en": "with someone else please", "he": "אפשר אצל מישהו אחר?"},
    "not_sunday": {"en": "not Sunday", "he": "לא ביום ראשון"},
}


async def test_a_provider_named_is_the_one_offered(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["provider"][language])
    assert kinds(reply) == ["slots_offered"], reply
    assert slots and {s.provider_name for s in slots} == {MIZRAHI}
    assert {"en": "Mizrahi", "he": "מזרחי"}[language] in reply["reply"].split("\n")[-4]


async def test_an_hour_and_a_week(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["evening"][language])
    sunday = today() + timedelta(days=7 - (today().weekday() + 1) % 7)
    assert kinds(reply) == ["slots_offered"], reply
    assert slots
    for slot in slots:
        assert local(slot).time() >= time(17), slot
        assert sunday <= local(slot).date() <= sunday + timedelta(days=6), slot


async def test_a_part_of_the_day_and_an_hour_narrow_each_other(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["before_ten"][language])
    assert kinds(reply) == ["slots_offered"], reply
    assert slots and all(time(8) <= local(s).time() < time(10) for s in slots), slots


async def test_a_date_range(client: httpx.AsyncClient, database: Database, language: str) -> None:
    reply, slots = await ask(database, john(client), SAY["next_month"][language])
    first = (today().replace(day=1) + timedelta(days=32)).replace(day=1)
    assert kinds(reply) == ["slots_offered"], reply
    assert slots and all(
        (local(s).year, local(s).month) == (first.year, first.month) for s in slots
    ), slots


async def test_several_constraints_at_once(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["combined"][language])
    in_two_weeks = today() + timedelta(days=14)
    sunday = in_two_weeks - timedelta(days=(in_two_weeks.weekday() + 1) % 7)
    thursday = sunday + timedelta(days=4)
    assert thursday.weekday() == THURSDAY
    assert slots, reply
    if kinds(reply) == ["slots_offered"]:
        for slot in slots:
            assert local(slot).date() == thursday and local(slot).time() < time(12), slot
            assert slot.provider_name == COHEN
    else:  # that Thursday is a holiday or full: said, and the rest kept
        assert kinds(reply) == ["slots_alternatives"], reply
        assert {s.provider_name for s in slots} == {COHEN}


async def test_an_impossible_request_says_why_and_offers_the_nearest(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["impossible"][language])
    assert kinds(reply) == ["slots_alternatives"], reply
    said = reply["reply"]
    assert {"en": "I found no free time", "he": "לא מצאתי מועד פנוי"}[language] in said
    assert {"en": "Wed", "he": "רביעי"}[language] in said.split("\n")[-5]
    assert slots and {s.provider_name for s in slots} == {MIZRAHI}, "the provider is kept"
    assert all(local(s).weekday() != WEDNESDAY for s in slots)


async def test_a_provider_who_does_not_do_the_treatment(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["cannot_treat"][language])
    assert kinds(reply) == ["slots_alternatives"], reply
    assert {"en": "does not do", "he": "לא נעשה אצל"}[language] in reply["reply"]
    assert slots and COHEN not in {s.provider_name for s in slots}


async def test_a_provider_the_clinic_does_not_have_is_said(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply, slots = await ask(database, john(client), SAY["unknown"][language])
    assert kinds(reply) == ["slots_alternatives"], reply
    team = {"en": "Our team", "he": "הצוות שלנו"}[language]
    assert (
        team in reply["reply"] and {"en": "Levinson", "he": "לוינסון"}[language] in reply["reply"]
    )
    assert slots, "the nearest times with the clinic's own team"


async def test_a_later_message_refines_the_request(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    patient = john(client)
    _, first = await ask(database, patient, SAY["provider"][language])
    assert first
    reply, later = await ask(database, patient, SAY["later"][language])
    latest = max(local(s).time() for s in first)
    assert later and all(local(s).time() > latest for s in later), (first, later, reply)
    assert {s.provider_name for s in later} == {MIZRAHI}, "the provider still holds"
    reply, others = await ask(database, patient, SAY["someone_else"][language])
    assert others and MIZRAHI not in {s.provider_name for s in others}, reply
    reply, not_sunday = await ask(database, patient, SAY["not_sunday"][language])
    assert not_sunday and all(local(s).weekday() != SUNDAY_INDEX for s in not_sunday), reply
    assert all(local(s).time() > latest for s in not_sunday), "earlier refinements hold"


async def test_a_refined_offer_can_be_booked(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    patient = john(client)
    reply = await patient.send(SAY["evening"][language])
    proposal = await patient.press(reply, "slot:")
    booked = await patient.press(proposal, "confirm:")
    assert "booked" in kinds(booked)
    async with database.transaction() as session:
        starts = await session.scalars(
            select(db.Appointment.starts_at)
            .join(db.Patient)
            .where(db.Patient.phone == JOHN_PHONE, db.Appointment.status == "scheduled")
        )
        assert any(s.astimezone(CLINIC_TZ).time() >= time(17) for s in starts)


async def test_a_move_keeps_the_constraints(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    dana = Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=DANA_PHONE)
    text = {
        "en": "can I move my appointment to next week, after 5pm?",
        "he": "אפשר להזיז את התור שלי לשבוע הבא אחרי חמש?",
    }[language]
    reply, slots = await ask(database, dana, text)
    sunday = today() + timedelta(days=7 - (today().weekday() + 1) % 7)
    assert reply["intent"] == "reschedule_appointment"
    assert slots and kinds(reply) == ["slots_offered"], reply
    for slot in slots:
        assert local(slot).time() >= time(17)
        assert sunday <= local(slot).date() <= sunday + timedelta(days=6)
    moved = await dana.press(await dana.press(reply, "slot:"), "confirm:")
    assert "rescheduled" in kinds(moved)
