"""End to end through `POST /api/v1/chat`: every patient flow, in Hebrew and English, for
both architectures, against the built-in practice backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from serving.app import create_app
from serving.db import models as db
from serving.db.engine import Database
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.chat_app import (  # noqa: F401
    EVERY_ARCHITECTURE_AND_LANGUAGE,
    architecture_fixture,
    chat_client_fixture,
    language_fixture,
)
from tests.classifier_models import bundle_with, constant
from tests.clinic_time import MONDAY, THURSDAY, next_weekday
from tests.conftest import make_settings

PHRASES = {
    "book_cleaning": {
        "en": "hi I want to book a cleaning next week",
        "he": "היי אני רוצה לקבוע תור לניקוי אבנית בשבוע הבא",
    },
    "book_any": {"en": "I need an appointment", "he": "אני צריכה לקבוע תור"},
    "reschedule": {"en": "can I move my appointment please", "he": "אפשר להזיז את התור שלי?"},
    "cancel": {"en": "I want to cancel my appointment", "he": "אני רוצה לבטל את התור"},
    "my_appointments": {"en": "when is my next appointment?", "he": "מתי התור הבא שלי?"},
    "balance": {"en": "how much do I owe?", "he": "כמה אני חייבת?"},
    "invoice": {
        "en": "can you show invoice INV/2026/0042",
        "he": "תראה לי את חשבונית INV/2026/0042",
    },
    "address": {"en": "what's the clinic address", "he": "מה הכתובת של המרפאה?"},
    "parking": {"en": "is there parking near you", "he": "יש חניה ליד המרפאה?"},
    "price": {"en": "how much does a cleaning cost", "he": "כמה עולה ניקוי אבנית?"},
    "insurance": {"en": "do you accept maccabi insurance", "he": "אתם עובדים עם ביטוח מכבי?"},
    "hours": {"en": "what are your opening hours on friday", "he": "מה שעות הפתיחה שלכם?"},
    "payment": {"en": "can I pay by credit card", "he": "אפשר לשלם באשראי?"},
    "doctor": {"en": "I want to talk to a dentist", "he": "אני רוצה לדבר עם רופא"},
    "greeting": {"en": "hello", "he": "שלום"},
    "thanks": {"en": "thanks a lot, bye", "he": "תודה רבה"},
}


def patient(client: httpx.AsyncClient, phone: str | None = DANA_PHONE) -> Patient:
    return Patient(client, user_id=f"user-{uuid.uuid4().hex[:8]}", phone=phone)


async def _appointments(database: Database, phone: str) -> list[db.Appointment]:
    async with database.transaction() as session:
        patient_id = await session.scalar(select(db.Patient.id).where(db.Patient.phone == phone))
        rows = await session.scalars(
            select(db.Appointment)
            .where(db.Appointment.patient_id == patient_id, db.Appointment.status == "scheduled")
            .order_by(db.Appointment.starts_at)
        )
        return list(rows)


def _hebrew(text: str) -> bool:
    return any("\u0590" <= ch <= "\u05ff" for ch in text)


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_booking_by_buttons(
    client: httpx.AsyncClient, database: Database, language: str, architecture: str
) -> None:
    john = patient(client, JOHN_PHONE)
    before = await _appointments(database, JOHN_PHONE)
    offered = await john.send(PHRASES["book_cleaning"][language])
    assert offered["intent"] == "book_appointment"
    assert offered["language"] == language
    assert _hebrew(offered["reply"]) == (language == "he")
    slots = [b for b in offered["buttons"] if b["data"].startswith("slot:")]
    assert 1 <= len(slots) <= 3
    proposal = await john.press(offered, "slot:", 1 if len(slots) > 1 else 0)
    assert {b["data"].split(":")[0] for b in proposal["buttons"]} == {"confirm", "decline"}
    assert await _appointments(database, JOHN_PHONE) == before, "nothing booked before confirm"
    booked = await john.press(proposal, "confirm:")
    assert "booked" in [a["type"] for a in booked["actions"]]
    after = await _appointments(database, JOHN_PHONE)
    assert len(after) == len(before) + 1
    assert booked["bundle_version"].startswith("dental-clinic-assistant@")


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_booking_asks_the_treatment_first(client: httpx.AsyncClient, language: str) -> None:
    john = patient(client, JOHN_PHONE)
    asked = await john.send(PHRASES["book_any"][language])
    assert any(b["data"] == "treat:cleaning" for b in asked["buttons"])
    offered = await john.send(button="treat:checkup")
    assert any(b["data"].startswith("slot:") for b in offered["buttons"])


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_booking_continues_in_free_text(client: httpx.AsyncClient, language: str) -> None:
    john = patient(client, JOHN_PHONE)
    await john.send(PHRASES["book_any"][language])
    offered = await john.send({"en": "a checkup please", "he": "בדיקה תקופתית"}[language])
    assert any(b["data"].startswith("slot:") for b in offered["buttons"]), offered
    proposal = await john.send({"en": "the second one", "he": "השני"}[language])
    assert any(b["data"].startswith("confirm:") for b in proposal["buttons"]), proposal
    booked = await john.send({"en": "yes please", "he": "כן בבקשה"}[language])
    assert "booked" in [a["type"] for a in booked["actions"]], booked


def _on_day(day: date, language: str, weekday: str) -> str:
    """A booking request naming the weekday and the date, as a patient would write it."""
    if language == "he":
        return f"אני רוצה לקבוע בדיקה תקופתית ליום {weekday} ה-{day.day}.{day.month}"
    return f"I'd like to book a checkup on {weekday} {day.day} {day.strftime('%B')}"


def _slot_days(reply: dict[str, Any], language: str) -> set[str]:
    """The days of the offered slots, as their buttons read ("Thu 17 Dec", "יום חמישי 17.12")."""
    slots = [b["text"] for b in reply["buttons"] if b["data"].startswith("slot:")]
    assert slots, reply
    separator = " בשעה " if language == "he" else " at "
    return {text.split(separator)[0] for text in slots}


def _label(day: date, language: str) -> str:
    if language == "he":
        weekday = {MONDAY: "שני", THURSDAY: "חמישי"}[day.weekday()]
        return f"יום {weekday} {day.day}.{day.month}"
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_a_weekday_with_its_date_books_that_date(
    client: httpx.AsyncClient, language: str
) -> None:
    thursday = next_weekday(THURSDAY, at_least_days=8)  # a week after the next Thursday
    weekday = {"en": "Thursday", "he": "חמישי"}[language]
    offered = await patient(client, JOHN_PHONE).send(_on_day(thursday, language, weekday))
    assert _slot_days(offered, language) == {_label(thursday, language)}


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_a_weekday_that_is_not_the_dates_is_asked_about(
    client: httpx.AsyncClient, language: str
) -> None:
    thursday = next_weekday(THURSDAY, at_least_days=8)
    monday = thursday - timedelta(days=3)
    john = patient(client, JOHN_PHONE)
    asked = await john.send(_on_day(thursday, language, {"en": "Monday", "he": "שני"}[language]))
    assert not [b for b in asked["buttons"] if b["data"].startswith("slot:")], "nothing guessed"
    assert (
        _label(monday, language) in asked["reply"] and _label(thursday, language) in asked["reply"]
    )
    assert asked["reply"].rstrip().endswith("?")
    offered = await john.send({"en": "thursday", "he": "ביום חמישי"}[language])
    assert _slot_days(offered, language) == {_label(thursday, language)}
    assert {"en": "checkup", "he": "בדיקה"}[language] in offered["reply"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_reschedule(client: httpx.AsyncClient, database: Database, language: str) -> None:
    dana = patient(client)
    [original] = await _appointments(database, DANA_PHONE)
    offered = await dana.send(PHRASES["reschedule"][language])
    assert offered["intent"] == "reschedule_appointment"
    proposal = await dana.press(offered, "slot:")
    done = await dana.press(proposal, "confirm:")
    assert "rescheduled" in [a["type"] for a in done["actions"]]
    [moved] = await _appointments(database, DANA_PHONE)
    assert moved.id == original.id and moved.starts_at != original.starts_at


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_cancel_with_confirmation(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    dana = patient(client)
    asked = await dana.send(PHRASES["cancel"][language])
    assert asked["intent"] == "cancel_appointment"
    assert len(await _appointments(database, DANA_PHONE)) == 1, "not cancelled before confirm"
    kept = await dana.press(asked, "decline:")
    assert "declined" in [a["type"] for a in kept["actions"]]
    assert len(await _appointments(database, DANA_PHONE)) == 1
    asked = await dana.send(PHRASES["cancel"][language])
    done = await dana.press(asked, "confirm:")
    assert "cancelled" in [a["type"] for a in done["actions"]]
    assert await _appointments(database, DANA_PHONE) == []


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_my_appointments(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    [upcoming] = await _appointments(database, DANA_PHONE)
    reply = await patient(client).send(PHRASES["my_appointments"][language])
    assert reply["intent"] == "my_appointments"
    local = upcoming.starts_at.astimezone(ZoneInfo("Asia/Jerusalem"))
    assert local.strftime("%H:%M") in reply["reply"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_invoices_for_the_verified_patient_only(
    client: httpx.AsyncClient, language: str
) -> None:
    dana = patient(client)
    balance = await dana.send(PHRASES["balance"][language])
    assert balance["intent"] == "invoice_inquiry"
    assert "INV/2026/0042" in balance["reply"] and "450.00" in balance["reply"]
    details = await dana.send(PHRASES["invoice"][language])
    assert "Filling (tooth 36)" in details["reply"]
    john = patient(client, JOHN_PHONE)
    other = await john.send(PHRASES["invoice"][language])
    assert "450" not in other["reply"] and "Filling" not in other["reply"]
    johns = await john.send(PHRASES["balance"][language])
    assert "INV/2026/0017" in johns["reply"] and "INV/2026/0042" not in johns["reply"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_without_verified_identity_there_is_no_patient_data(
    client: httpx.AsyncClient, language: str
) -> None:
    anonymous = Patient(client, user_id="web-visitor-1", phone=DANA_PHONE, trusted=False)
    reply = await anonymous.send(PHRASES["balance"][language])
    assert "INV/" not in reply["reply"] and "450" not in reply["reply"]
    appointments = await anonymous.send(PHRASES["my_appointments"][language])
    assert "identity_required" in [a["type"] for a in appointments["actions"]]


# Refused by the API before the assistant: no agent, no query.
@pytest.mark.parametrize(("db_backend", "architecture"), [("sqlite", "alex")], indirect=True)
async def test_a_wrong_integration_key_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/chat",
        json={"user_id": "x", "text": "hi", "phone": DANA_PHONE},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@EVERY_ARCHITECTURE_AND_LANGUAGE
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("address", {"en": "Herzl", "he": "הרצל"}),
        ("parking", {"en": "parking", "he": "חניה"}),
        ("price", {"en": "350.00", "he": "350.00"}),
        ("insurance", {"en": "Maccabi", "he": "מכבי"}),
        ("hours", {"en": "On Friday we are open 08:00-13:00", "he": "שישי 08:00-13:00"}),
        ("payment", {"en": "credit cards", "he": "כרטיסי אשראי"}),
    ],
)
async def test_clinic_information(
    client: httpx.AsyncClient, language: str, key: str, expected: dict[str, str]
) -> None:
    reply = await patient(client, None).send(PHRASES[key][language])
    assert reply["intent"] == "clinic_info"
    assert expected[language] in reply["reply"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_talk_to_a_dentist(
    client: httpx.AsyncClient, database: Database, language: str
) -> None:
    reply = await patient(client).send(PHRASES["doctor"][language])
    assert reply["intent"] == "talk_to_doctor"
    assert reply["escalation"] is not None
    async with database.transaction() as session:
        row = await session.get(db.Escalation, reply["escalation"]["id"])
    assert row is not None and row.conversation_id == reply["conversation_id"]


@EVERY_ARCHITECTURE_AND_LANGUAGE
async def test_greeting_discloses_the_bot_then_thanks(
    client: httpx.AsyncClient, language: str
) -> None:
    someone = patient(client)
    hello = await someone.send(PHRASES["greeting"][language])
    assert hello["intent"] == "greeting"
    assert {"en": "automated assistant", "he": "עוזר האוטומטי"}[language] in hello["reply"]
    thanks = await someone.send(PHRASES["thanks"][language])
    assert thanks["intent"] == "thanks_goodbye"
    assert {"en": "automated assistant", "he": "עוזר האוטומטי"}[language] not in thanks["reply"]


async def test_a_patient_can_continue_tomorrow(
    database_url: str, database: Database, architecture: str
) -> None:
    """The offer made by one app process is honoured by a fresh one on the same database."""
    settings = make_settings(
        database_url, integration_key=INTEGRATION_KEY, agent_architecture=architecture
    )
    async with running(create_app(settings, database=database)) as first:
        john = patient(first, JOHN_PHONE)
        offered = await john.send(PHRASES["book_cleaning"]["en"])
    async with running(create_app(settings, database=database)) as second:
        john.client = second
        proposal = await john.press(offered, "slot:")
        booked = await john.press(proposal, "confirm:")
    assert "booked" in [a["type"] for a in booked["actions"]]


async def test_invoice_amounts_match_the_backend(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    backend = BuiltinPracticeBackend(
        database, booking_rules_from_settings(make_settings(database_url))
    )
    [dana] = await backend.search_patient(phone=DANA_PHONE)
    [invoice] = await backend.get_patient_invoices(dana.id)
    reply = await patient(client).send("what is my balance")
    assert f"{invoice.amount_due:,.2f}" in reply["reply"]
    assert invoice.amount_due == Decimal("450.00")


async def _patient_message(database: Database, user_id: str, text: str) -> db.Message:
    async with database.transaction() as session:
        return (
            await session.scalars(
                select(db.Message)
                .join(db.Conversation)
                .where(
                    db.Conversation.external_user_id == user_id,
                    db.Message.role == "patient",
                    db.Message.text == text,
                )
            )
        ).one()


async def test_each_patient_message_records_what_decided_its_urgency(
    client: httpx.AsyncClient, database: Database
) -> None:
    john = patient(client, JOHN_PHONE)
    emergency, routine = "knocked out my tooth, bleeding", PHRASES["book_cleaning"]["en"]
    assert (await john.send(emergency))["urgency"] == "EMERGENCY"
    assert (await john.send(routine))["urgency"] == "ROUTINE"
    stored = await _patient_message(database, john.user_id, emergency)
    assert stored.triage_decided_by == "emergency.avulsed_permanent_tooth"
    # The repository's bundle has a classifier: its P(emergency) is kept beside the rule.
    assert stored.triage_score is not None and 0.0 <= stored.triage_score <= 1.0
    stored = await _patient_message(database, john.user_id, routine)
    assert stored.triage_decided_by == ""
    assert stored.triage_score is not None and stored.triage_score < 0.5


async def test_a_message_the_classifier_raised_records_the_model_and_its_score(
    database_url: str, database: Database, architecture: str, tmp_path: Path
) -> None:
    triage = constant("triage", {"EMERGENCY": 0.2, "DOCTOR_REQUIRED": 0.95}, version="tri-2")
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        agent_architecture=architecture,
        bundle_path=bundle_with(tmp_path / "bundle", {"triage": triage}),
    )
    text = PHRASES["address"]["en"]
    async with running(create_app(settings, database=database)) as http:
        john = patient(http, JOHN_PHONE)
        reply = await john.send(text)
    assert reply["urgency"] == "DOCTOR_REQUIRED"
    assert reply["escalation"]["urgency"] == "DOCTOR_REQUIRED"
    stored = await _patient_message(database, john.user_id, text)
    assert stored.urgency == "DOCTOR_REQUIRED"
    assert stored.triage_decided_by == "model:triage@tri-2"
    assert stored.triage_score == pytest.approx(0.95)
