"""A patient's export and erasure follow whose each message was, not only the conversation's
current binding: on a shared device (the keyed chat API's kiosk) one conversation holds two
patients' messages, and a conversation a patient left unbound is still theirs. On the served
app, both database engines, the SQL memory store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from serving.assistant.store import ConversationStore
from serving.db import models as db
from serving.db.engine import Database
from tests.assistant_client import DANA_PHONE, JOHN_PHONE, Patient
from tests.staff_client import StaffDesk, staff_desk

NOBODYS_PHONE = "+972501111999"
"""A dialable number no patient of the demo clinic has."""
BEFORE_PROVING = "Hello there, good morning"
DANAS_WORDS = (
    "Could a dentist check my wisdom tooth, it aches whenever I chew on that side?",
    "Do you have parking for the clinic's patients nearby?",
)
JOHNS_WORDS = "Could a dentist check the filling that fell out of my molar yesterday?"
DANAS_OWN_KIOSK = "Could a dentist tell me whether my old crown needs replacing soon?"
STRANGERS_WORDS = "Could a dentist look at a sore tooth of mine this week?"


@pytest.fixture
async def desk(database_url: str, database: Database) -> AsyncIterator[StaffDesk]:
    async with staff_desk(database_url, database) as desk:
        yield desk


async def _patient_id(database: Database, phone: str) -> int:
    async with database.read() as session:
        found = await session.scalar(select(db.Patient.id).where(db.Patient.phone == phone))
    assert found is not None
    return int(found)


async def _texts(database: Database) -> list[str]:
    async with database.read() as session:
        return list(await session.scalars(select(db.Message.text)))


async def _export(desk: StaffDesk, patient_id: int) -> dict[str, Any]:
    response = await desk.http.get(
        f"/api/v1/memory/{patient_id}/export", headers=await desk.headers("admin")
    )
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    return export


def _exported_texts(export: dict[str, Any]) -> list[str]:
    return [m["text"] for c in export["conversations"] for m in c["messages"]]


async def _share_a_kiosk(desk: StaffDesk, database: Database) -> tuple[int, int]:
    """On a kiosk someone writes before proving who they are, then proves to be Dana and asks
    a dentist something; then John proves his phone on it and asks a dentist too. On another
    kiosk Dana asks a dentist something, then a phone that matches nobody unbinds it and that
    stranger asks a dentist too. Dana's and John's ids."""
    await Patient(desk.http, user_id="kiosk-shared").send(BEFORE_PROVING)
    dana = Patient(desk.http, user_id="kiosk-shared", phone=DANA_PHONE)
    for words in DANAS_WORDS:
        await dana.send(words)
    await Patient(desk.http, user_id="kiosk-shared", phone=JOHN_PHONE).send(JOHNS_WORDS)
    await Patient(desk.http, user_id="kiosk-left", phone=DANA_PHONE).send(DANAS_OWN_KIOSK)
    await Patient(desk.http, user_id="kiosk-left", phone=NOBODYS_PHONE).send(STRANGERS_WORDS)
    return await _patient_id(database, DANA_PHONE), await _patient_id(database, JOHN_PHONE)


async def test_each_patient_exports_their_own_messages_of_a_shared_conversation(
    desk: StaffDesk, database: Database
) -> None:
    dana_id, john_id = await _share_a_kiosk(desk, database)

    danas = await _export(desk, dana_id)
    texts = _exported_texts(danas)
    assert texts[0] == BEFORE_PROVING, "what she wrote before proving it was her"
    assert all(words in texts for words in (*DANAS_WORDS, DANAS_OWN_KIOSK))
    assert len(danas["conversations"]) == 2, "the kiosk she left is still hers"
    serialized = json.dumps(danas, ensure_ascii=False)
    assert JOHNS_WORDS not in serialized, "not another patient's, in messages or escalations"
    assert STRANGERS_WORDS not in serialized, "nor a stranger's after her binding was cleared"
    shared, left = danas["escalations"]
    assert shared["summary"] == shared["last_summary"] == DANAS_WORDS[0]
    assert shared["status"] == "closed", "closed when John proved who he is on the kiosk"
    assert left["conversation_id"] != shared["conversation_id"]
    assert left["status"] == "closed", "closed when the stranger's question opened their own"

    johns = await _export(desk, john_id)
    assert _exported_texts(johns)[0] == JOHNS_WORDS
    assert not any(words in json.dumps(johns) for words in (BEFORE_PROVING, *DANAS_WORDS))
    assert [e["summary"] for e in johns["escalations"]] == [JOHNS_WORDS], "his own, new one"


async def test_erasure_takes_the_patients_part_of_a_shared_conversation_and_only_that(
    desk: StaffDesk, database: Database
) -> None:
    dana_id, john_id = await _share_a_kiosk(desk, database)
    before = await _texts(database)

    response = await desk.http.delete(
        f"/api/v1/memory/{dana_id}", headers=await desk.headers("admin")
    )

    assert response.status_code == 200, response.text
    after = await _texts(database)
    assert not any(words in after for words in (BEFORE_PROVING, *DANAS_WORDS, DANAS_OWN_KIOSK))
    assert JOHNS_WORDS in after and STRANGERS_WORDS in after, "others' words stay"
    counts = response.json()["counts"]
    assert counts["app"]["messages"] == len(before) - len(after)
    assert (counts["app"]["conversations"], counts["app"]["escalations"]) == (0, 2)
    async with database.read() as session:
        kiosks = {
            row.external_user_id: row.patient_id
            for row in await session.execute(
                select(db.Conversation.external_user_id, db.Conversation.patient_id)
            )
        }
        escalations = list(await session.scalars(select(db.Escalation.summary)))
    assert kiosks == {"kiosk-shared": john_id, "kiosk-left": None}, "both hold others' words"
    assert sorted(escalations) == sorted([JOHNS_WORDS, STRANGERS_WORDS]), "others' stay"
    reply = await Patient(desk.http, user_id="kiosk-shared", phone=JOHN_PHONE).send(JOHNS_WORDS)
    assert reply["reply"], "John's conversation goes on"
    assert _exported_texts(await _export(desk, john_id)).count(JOHNS_WORDS) == 2


async def test_erasing_the_patient_a_shared_conversation_is_bound_to_unbinds_it(
    desk: StaffDesk, database: Database
) -> None:
    """The shared kiosk ends bound to John: erasing him leaves it (Dana's words are in it),
    bound to no one and without its dialogue state, which can hold his words."""
    _, john_id = await _share_a_kiosk(desk, database)

    response = await desk.http.delete(
        f"/api/v1/memory/{john_id}", headers=await desk.headers("admin")
    )

    assert response.status_code == 200, response.text
    assert response.json()["counts"]["unbound"] == {"conversations": 1}
    after = await _texts(database)
    assert JOHNS_WORDS not in after and all(words in after for words in DANAS_WORDS)
    async with database.read() as session:
        kiosk = await session.scalar(
            select(db.Conversation).where(db.Conversation.external_user_id == "kiosk-shared")
        )
    assert kiosk is not None and kiosk.patient_id is None and kiosk.state == {}


async def test_the_next_patient_on_a_shared_device_starts_afresh(
    desk: StaffDesk, database: Database
) -> None:
    """John, proving who he is on Dana's kiosk, is answered without her messages in the
    turn's history (what a language model would read) and without her dialogue state: he is
    told afresh that he is talking to a bot."""
    _, john_id = await _share_a_kiosk(desk, database)
    store = ConversationStore(database)

    turn = await store.open_turn(
        "api", "kiosk-shared", language="en", patient_id=john_id, history=50
    )
    await store.abandon_turn(turn)

    assert [m.role for m in turn.history] == ["patient", "assistant"]
    assert turn.history[0].text == JOHNS_WORDS
    async with database.read() as session:
        first_to_john = await session.scalar(
            select(db.Message.text)
            .where(db.Message.patient_id == john_id, db.Message.role == "assistant")
            .order_by(db.Message.id)
        )
    assert first_to_john is not None
    assert first_to_john.startswith("Hi, I'm Alex"), "a new person is told it is a bot"
