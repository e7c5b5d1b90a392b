"""Memory in the assistant, through the real chat API on SQLite and PostgreSQL: every turn's
outcomes reach the graph; a returning patient is offered their usual dentist and time (and
what they ask for wins); a patient whose question a dentist still has is told so once; a
pattern that usually ends in a booking gets a "book" button; a new conversation starts in the
remembered language; the escalation's close records who resolved it; a failing store never
fails a turn. And the memory evaluation's scenario: fewer turns to book with memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from evals.clinic import EvaluationClock, ScratchClinic
from evals.memory_eval import HABITS, first_morning, run_habit
from serving.agents.context import TurnContext, memory_summary
from serving.app import create_app
from serving.assistant.outbound import Image, Place, Recipient
from serving.assistant.store import Author
from serving.conversation.turn import Button
from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.memory.records import MessageFacts, OutcomeFacts, PatientMemory, TurnFacts
from serving.memory.service import Memory
from serving.settings import REPOSITORY_BUNDLE
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.chat_app import CLINIC_MORNING
from tests.clinic_time import today_from
from tests.conftest import make_settings

TZ = ZoneInfo("Asia/Jerusalem")
MIZRAHI = "Dr. Rivka Mizrahi"
USUAL_LINE = "like your recent visits"
STILL_WITH_DENTIST = "A dentist still has your earlier question"
COLD_QUESTION = "My tooth has felt sensitive to cold since the new filling, is that expected?"


@dataclass
class Chat:
    app: FastAPI
    http: httpx.AsyncClient
    device: PatientDevice

    @property
    def memory(self) -> Memory:
        memory: Memory = self.app.state.memory
        return memory

    async def written(self) -> Memory:
        """The memory once the turns' queued writes are done (they follow the reply)."""
        await self.memory.settled()
        return self.memory

    def patient(self, user_id: str, phone: str | None = JOHN_PHONE) -> Patient:
        return Patient(self.http, user_id, phone)

    async def john_id(self) -> int:
        [john] = await self.app.state.practice.search_patient(phone=JOHN_PHONE)
        return int(john.id)


class PatientDevice:
    """Where the chat API's patients get what the clinic writes outside a turn (a dentist's
    messages): the integration's side of the `api` channel."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send_text(self, to: Recipient, text: str, buttons: Sequence[Button]) -> bool:
        self.texts.append(text)
        return True

    async def send_location(self, to: Recipient, place: Place) -> bool:
        return True

    async def send_image(self, to: Recipient, image: Image) -> bool:
        return True


@pytest.fixture
async def chat(database_url: str, database: Database) -> AsyncIterator[Chat]:
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    app = create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        device = PatientDevice()
        app.state.outbox.register("api", device)
        yield Chat(app, http, device)


async def book(patient: Patient, text: str, slot: int = 0) -> dict[str, Any]:
    """Ask in `text`, press the `slot`-th offered time, confirm: the confirmation's reply."""
    offer = await patient.send(text)
    proposal = await patient.press(offer, "slot:", slot)
    done = await patient.press(proposal, "confirm:")
    assert [a["type"] for a in done["actions"]][-1] == "booked", done
    return done


def offered(reply: dict[str, Any]) -> list[str]:
    return [b["text"] for b in reply["buttons"] if b["data"].startswith("slot:")]


def hour(label: str) -> int:
    """The hour of an offered time's label ("Tue 1 Dec at 17:30 with ...")."""
    return int(label.split(" at ")[1].split(":")[0])


def evening(label: str) -> bool:
    return 16 <= hour(label) < 20


async def test_a_booking_reaches_the_graph_with_its_provider_and_time(chat: Chat) -> None:
    await book(chat.patient("memory-1"), "I'd like a checkup with Dr. Mizrahi in the evening")

    history = await (await chat.written()).store.history(await chat.john_id())
    [booked] = [o for o in history.outcomes if o.kind == "booked"]
    assert booked.provider_name == MIZRAHI
    assert booked.visit_at is not None and 16 <= booked.visit_at.astimezone(TZ).hour < 20
    async with chat.app.state.database.read() as session:
        messages = await session.scalars(select(db.Message).order_by(db.Message.id))
        [stored] = [m for m in messages if m.outcomes]
    assert stored.role == "assistant" and stored.outcomes is not None
    assert stored.outcomes[0]["kind"] == "booked"
    assert stored.outcomes[0]["provider_name"] == MIZRAHI
    assert booked.id == f"booked:{booked.message_id}"  # led to by the patient's confirmation


async def test_a_returning_patient_is_offered_their_usual_dentist_and_time(chat: Chat) -> None:
    john = chat.patient("memory-2")
    await book(john, "I'd like a checkup with Dr. Mizrahi in the evening")
    await book(john, "Another checkup please, with Dr. Mizrahi in the evening", slot=1)

    returning = chat.patient("memory-2-later")
    offer = await returning.send("Could I book a checkup?")
    assert USUAL_LINE in offer["reply"], offer["reply"]
    assert offered(offer) and all(MIZRAHI in t and evening(t) for t in offered(offer))

    # Another dentist, as asked; the part of the day they said nothing about stays the usual.
    someone_else = await returning.send("someone else please")
    others = offered(someone_else)
    assert others and not any(MIZRAHI in t for t in others), someone_else["reply"]
    assert all(evening(t) for t in others) and "in the evening" in someone_else["reply"]


async def test_what_the_patient_asks_for_wins_over_their_habits(chat: Chat) -> None:
    john = chat.patient("memory-3")
    await book(john, "I'd like a checkup with Dr. Mizrahi in the evening")
    await book(john, "Another checkup please, with Dr. Mizrahi in the evening", slot=1)

    reply = await chat.patient("memory-3-later").send(
        "I need a checkup with Dr. Cohen in the morning"
    )
    assert USUAL_LINE not in reply["reply"]
    times = offered(reply)
    assert times and all("Dr. Avi Cohen" in t and 8 <= hour(t) < 12 for t in times), times


async def test_without_history_the_offer_is_the_usual_one(chat: Chat) -> None:
    reply = await chat.patient("memory-4").send("Could I book a checkup?")
    assert offered(reply) and USUAL_LINE not in reply["reply"]


async def test_an_open_question_is_mentioned_once_and_its_close_is_remembered(
    chat: Chat,
) -> None:
    john = chat.patient("memory-5")
    asked = await john.send(COLD_QUESTION)
    assert asked["escalation"] is not None, asked
    escalation_id = asked["escalation"]["id"]

    again = await john.send("what are your opening hours?")
    assert again["reply"].startswith(STILL_WITH_DENTIST), again["reply"]
    once_more = await john.send("and where are you located?")
    assert STILL_WITH_DENTIST not in once_more["reply"]

    desk, dentist = chat.app.state.doctor_desk, Author("Dr. Avi Cohen")
    conversation_id = await desk.join(escalation_id, dentist)
    await desk.send(conversation_id, "Rinse gently; come in tomorrow at nine.", dentist)
    assert "Dr. Avi Cohen:\nRinse gently; come in tomorrow at nine." in chat.device.texts
    await desk.close_escalation(escalation_id, author="Dr. Avi Cohen")

    john_id = await chat.john_id()
    history = await (await chat.written()).store.history(john_id)
    [escalated] = [o for o in history.outcomes if o.kind == "escalated"]
    assert escalated.escalation_id == escalation_id
    assert escalated.resolved_by == "Dr. Avi Cohen" and escalated.resolved_at is not None
    exported = await chat.memory.store.export(john_id)
    roles = {n["properties"].get("role") for n in exported.nodes if n["label"] == "Message"}
    assert {"patient", "assistant", "doctor"} <= roles

    later = await chat.patient("memory-5-later").send("what are your opening hours?")
    assert STILL_WITH_DENTIST not in later["reply"]


async def test_a_pattern_that_usually_ends_in_a_booking_offers_the_book_button(
    chat: Chat,
) -> None:
    question = "what are your opening hours?"
    before = await chat.patient("memory-6").send(question)
    assert not any(b["data"] == "quick:book" for b in before["buttons"])

    now = utcnow()
    for n in range(10):  # ten conversations in which the question led to a booking
        message = 9_000_000 + n
        await chat.memory.remember(
            TurnFacts(
                conversation_id=f"seeded-{n}",
                channel="web",
                patient_id=None,
                language="en",
                at=now - timedelta(days=2),
                messages=(
                    MessageFacts(
                        id=message,
                        role="patient",
                        at=now - timedelta(days=2),
                        language="en",
                        pattern="clinic_information",
                    ),
                ),
                outcomes=(
                    OutcomeFacts(
                        id=f"booked:{message}",
                        kind="booked",
                        at=now - timedelta(days=2),
                        message_id=message,
                        provider_id=1,
                        provider_name="Dr. Avi Cohen",
                        visit_at=now + timedelta(days=3),
                    ),
                ),
            )
        )
    chat.memory.forget_stats()

    after = await chat.patient("memory-7").send(question)
    assert any(b["data"] == "quick:book" for b in after["buttons"]), after["buttons"]


async def test_a_new_conversation_starts_in_the_remembered_language(chat: Chat) -> None:
    michal = "+972542223344"
    await chat.patient("memory-8", phone=michal).send("מה שעות הפתיחה שלכם?")

    wordless = await chat.patient("memory-8-later", phone=michal).send("?")
    assert wordless["language"] == "he"
    stranger = await chat.patient("memory-9").send("?")
    assert stranger["language"] == "en", "nothing remembered: a wordless message's default"


async def test_a_failing_store_never_fails_a_turn_and_is_counted(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> Any:
        raise ConnectionError("memory store unreachable")

    monkeypatch.setattr(chat.memory.store, "record", broken)
    monkeypatch.setattr(chat.memory.store, "history", broken)
    reply = await chat.patient("memory-10").send("Could I book a checkup?")
    assert offered(reply), "answered without memory"
    await chat.written()

    exposition = (await chat.http.get("/metrics")).text
    assert 'dental_memory_failures_total{operation="write"} 1.0' in exposition
    assert 'dental_memory_failures_total{operation="read"} 1.0' in exposition


def test_the_model_sees_a_compact_memory_in_its_context() -> None:
    memory = PatientMemory(
        patient_id=7,
        conversations=3,
        preferred_provider_id=2,
        preferred_provider_name=MIZRAHI,
        preferred_part_of_day="evening",
        open_escalations=("e1",),
    )
    context = TurnContext(
        agent="alex",
        language="en",
        today=utcnow().date(),
        verified=True,
        urgency="ROUTINE",
        pending=None,
        offer_refs=(),
        awaiting_treatment=False,
        draft_treatment=None,
        memory={
            "usual_dentist": MIZRAHI,
            "usual_part_of_day": "evening",
            "returning": True,
            "open_escalations": 1,
        },
    )
    found = TurnContext.find([context.to_message()])
    assert found is not None and found.memory == context.memory
    assert memory_summary(memory) == context.memory
    assert memory_summary(None) is None


async def test_memory_brings_a_returning_patient_to_a_booking_in_fewer_turns() -> None:
    habit = next(h for h in HABITS if h.id == "m1")
    clock = EvaluationClock()
    async with ScratchClinic(
        bundle_path=REPOSITORY_BUNDLE, architecture="alex", clock=clock
    ) as clinic:
        start = first_morning(clinic.timezone)
        with_memory = await run_habit(clinic, clock, habit, "with_memory", start=start)
        without = await run_habit(clinic, clock, habit, "without_memory", start=start)
    assert with_memory.history_booked and without.history_booked
    assert with_memory.returning.turns is not None and without.returning.turns is not None
    assert with_memory.returning.turns < without.returning.turns
    assert not with_memory.violations and not without.violations
