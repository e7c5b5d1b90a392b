"""A patient's export and erasure follow whose each message was, not only the conversation's
current binding: on a shared device (the keyed chat API's kiosk) one conversation holds two
patients' messages, and a conversation a patient left unbound is still theirs. On the served
app, both database engines, the SQL memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from serving.db import models as db
from serving.db.engine import Database
from tests.assistant_client import DANA_PHONE, JOHN_PHONE, Patient
from tests.staff_client import StaffDesk, staff_desk

NOBODYS_PHONE = "+972501111999"
"""A dialable number no patient of the demo clinic has."""
DANAS_WORDS = (
    "Could a dentist check my wisdom tooth, it aches whenever I chew on that side?",
    "Do you have parking for the clinic's patients nearby?",
)
DANAS_OWN_KIOSK = "Is the clinic open on the last day of the month?"
JOHNS_WORDS = "Which floor is the clinic on, and is there a lift?"


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


async def _share_a_kiosk(desk: StaffDesk) -> None:
    """Dana writes on a kiosk, then John proves his phone on it and writes; on another kiosk
    Dana writes, then a phone that matches nobody unbinds it."""
    dana = Patient(desk.http, user_id="kiosk-shared", phone=DANA_PHONE)
    for words in DANAS_WORDS:
        await dana.send(words)
    await Patient(desk.http, user_id="kiosk-shared", phone=JOHN_PHONE).send(JOHNS_WORDS)
    await Patient(desk.http, user_id="kiosk-left", phone=DANA_PHONE).send(DANAS_OWN_KIOSK)
    await Patient(desk.http, user_id="kiosk-left", phone=NOBODYS_PHONE).send("hello")


async def test_each_patient_exports_their_own_messages_of_a_shared_conversation(
    desk: StaffDesk, database: Database
) -> None:
    await _share_a_kiosk(desk)
    dana_id = await _patient_id(database, DANA_PHONE)
    john_id = await _patient_id(database, JOHN_PHONE)

    danas = await _export(desk, dana_id)
    texts = _exported_texts(danas)
    assert all(words in texts for words in (*DANAS_WORDS, DANAS_OWN_KIOSK))
    assert JOHNS_WORDS not in texts and "hello" not in texts, "not another's, nor a stranger's"
    assert len(danas["conversations"]) == 2, "the unbound kiosk is still hers"
    assert [e["summary"] for e in danas["escalations"]] == [DANAS_WORDS[0]]

    johns = await _export(desk, john_id)
    assert _exported_texts(johns)[0] == JOHNS_WORDS
    assert not any(words in _exported_texts(johns) for words in DANAS_WORDS)
    assert johns["escalations"] == [], "the dentist question was Dana's"


async def test_erasure_takes_the_patients_part_of_a_shared_conversation_and_only_that(
    desk: StaffDesk, database: Database
) -> None:
    await _share_a_kiosk(desk)
    dana_id = await _patient_id(database, DANA_PHONE)
    before = await _texts(database)

    response = await desk.http.delete(
        f"/api/v1/memory/{dana_id}", headers=await desk.headers("admin")
    )

    assert response.status_code == 200, response.text
    after = await _texts(database)
    assert not any(words in after for words in (*DANAS_WORDS, DANAS_OWN_KIOSK))
    assert JOHNS_WORDS in after, "John's part of the shared kiosk stays"
    counts = response.json()["counts"]["app"]
    assert counts["messages"] == len(before) - len(after)
    assert (counts["conversations"], counts["escalations"]) == (1, 1)
    async with database.read() as session:
        kiosks = dict(
            (row.external_user_id, row.patient_id)
            for row in await session.execute(
                select(db.Conversation.external_user_id, db.Conversation.patient_id)
            )
        )
        theirs = await session.scalar(
            select(func.count()).select_from(db.Message).where(db.Message.patient_id == dana_id)
        )
    john_id = await _patient_id(database, JOHN_PHONE)
    assert kiosks == {"kiosk-shared": john_id}, "her own kiosk is gone, the shared one is John's"
    assert theirs == 0
    reply = await Patient(desk.http, user_id="kiosk-shared", phone=JOHN_PHONE).send(JOHNS_WORDS)
    assert reply["reply"], "John's conversation goes on"
    assert _exported_texts(await _export(desk, john_id)).count(JOHNS_WORDS) == 2
