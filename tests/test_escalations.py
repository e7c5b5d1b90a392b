"""One unclosed escalation per conversation: repeats attach to it (count, last message, time)
and raise its urgency, never lower it; the database refuses a second one. On SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from serving.app import create_app
from serving.assistant.store import (
    TURN_LEASE,
    ConversationRecord,
    ConversationStore,
    PatientMessageLabels,
    StoredReply,
    TurnLost,
)
from serving.conversation.state import ConversationState
from serving.conversation.turn import EscalationRequest
from serving.db import models as db
from serving.db.engine import Database
from serving.db.migrate import upgrade_database
from serving.db.types import UTCDateTime, utcnow
from serving.memory.turn_outcomes import conversation_facts, escalation
from tests.asgi import running
from tests.assistant_client import Patient
from tests.conftest import make_settings

DOCTOR = "I want to talk to a dentist"
EMERGENCY = "my face is swelling and I can't swallow"
REPEATS = 250
REPLY = StoredReply(
    text="A dentist will reply.",
    language="en",
    urgency="ROUTINE",
    intent="talk_to_doctor",
    memory_pattern="none",
    bundle_version="test",
    model="rules",
    architecture="alex",
    llm_calls=0,
)


async def _escalations(database: Database, conversation_id: str) -> list[db.Escalation]:
    async with database.transaction() as session:
        rows = await session.scalars(
            select(db.Escalation)
            .where(db.Escalation.conversation_id == conversation_id)
            .order_by(db.Escalation.created_at)
        )
        return list(rows)


async def test_repeats_attach_to_the_open_escalation_and_only_raise_it(
    database_url: str, database: Database
) -> None:
    # Emergencies are never rate-limited, requests for a dentist are: this test is about the
    # escalations, so the limits are off.
    settings = make_settings(database_url, rate_limit_per_user=0, rate_limit_per_address=0)
    async with running(create_app(settings, database=database)) as client:
        someone = Patient(client, user_id=f"web-{uuid.uuid4().hex[:8]}", trusted=False)
        first = await someone.send(DOCTOR)
        assert first["escalation"]["urgency"] == "DOCTOR_REQUIRED"
        conversation = first["conversation_id"]
        references = {first["escalation"]["id"]}
        last = f"{EMERGENCY}, it is getting worse"
        for n in range(1, REPEATS):
            # Doctor requests, a third of emergencies, doctor requests again (which must not
            # lower the urgency), and an emergency last.
            emergency = REPEATS // 3 <= n < 2 * REPEATS // 3
            sent = last if n == REPEATS - 1 else EMERGENCY if emergency else DOCTOR
            reply = await someone.send(sent)
            assert reply["escalation"] is not None
            references.add(reply["escalation"]["id"])
            if n >= REPEATS // 3:
                assert reply["escalation"]["urgency"] == "EMERGENCY"
        assert len(references) == 1, "every reply names the same escalation"

    [escalation] = await _escalations(database, conversation)
    assert escalation.id in references
    assert escalation.message_count == REPEATS
    assert escalation.urgency == "EMERGENCY"
    assert escalation.reasons == "emergency.swallowing_difficulty"
    assert escalation.status == "open"
    assert "dentist" in escalation.summary, "what opened it: the request for a dentist"
    assert escalation.last_summary == last, "the latest message"
    assert escalation.updated_at > escalation.created_at


async def test_a_closed_escalation_leaves_room_for_a_new_one(
    database_url: str, database: Database
) -> None:
    settings = make_settings(database_url)
    async with running(create_app(settings, database=database)) as client:
        someone = Patient(client, user_id=f"web-{uuid.uuid4().hex[:8]}", trusted=False)
        first = await someone.send(DOCTOR)
        async with database.transaction() as session:
            await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == first["escalation"]["id"])
                .values(status="closed")
            )
        second = await someone.send(DOCTOR)
        assert second["escalation"]["id"] != first["escalation"]["id"]
        third = await someone.send(DOCTOR)
        assert third["escalation"]["id"] == second["escalation"]["id"]
    rows = await _escalations(database, first["conversation_id"])
    assert [(r.status, r.message_count) for r in rows] == [("closed", 1), ("open", 2)]


async def test_the_database_refuses_a_second_unclosed_escalation(
    database_url: str, database: Database
) -> None:
    conversation_id = uuid.uuid4().hex
    async with database.transaction() as session:
        session.add(db.Conversation(id=conversation_id, channel="web", external_user_id="db-test"))
        for status in ("closed", "closed", "claimed"):
            session.add(_escalation(conversation_id, status))
    for status in ("open", "claimed"):
        with pytest.raises(IntegrityError):
            async with database.transaction() as session:
                session.add(_escalation(conversation_id, status))


async def test_a_turn_taken_over_attaches_nothing(database: Database) -> None:
    """A replica whose turn lease expired and was taken over finishes after the replica that
    took over: the stale turn stores nothing (TurnLost), so the escalation counts the message
    once and no second row appears."""
    expired = False

    def later() -> datetime:
        return utcnow() + TURN_LEASE + timedelta(seconds=1) if expired else utcnow()

    slow, taking_over = ConversationStore(database), ConversationStore(database, clock=later)
    user = f"race-{uuid.uuid4().hex[:8]}"
    stale = await slow.open_turn("web", user, language="en", patient_id=None, history=0, text="a")
    expired = True
    fresh = await taking_over.open_turn(
        "web", user, language="en", patient_id=None, history=0, text="b", wait_seconds=0.05
    )
    created = await _finish(taking_over, fresh)
    with pytest.raises(TurnLost):
        await _finish(slow, stale)
    [row] = await _escalations(database, stale.id)
    assert row.message_count == 1
    assert (row.id, row.urgency) == created


async def test_a_silent_turn_keeps_the_escalation_it_opened_on_the_patients_message(
    database: Database,
) -> None:
    """A turn that ends without a reply (a person holds the conversation) and opens an
    escalation: its outcome is kept on the patient's message, in the turn's facts and in what
    a rebuild reads, LED_TO from that message."""
    store = ConversationStore(database)
    turn = await store.open_turn(
        "web",
        f"silent-{uuid.uuid4().hex[:8]}",
        language="en",
        patient_id=None,
        history=0,
        text="a",
    )
    assert turn.message_id is not None
    finished = await store.finish_turn(
        turn,
        message=PatientMessageLabels(
            message_id=turn.message_id,
            urgency="EMERGENCY",
            intent="emergency",
            memory_pattern="none",
        ),
        reply=replace(REPLY, text=""),
        state=ConversationState(),
        escalations=(EscalationRequest(urgency="EMERGENCY", summary=EMERGENCY),),
        guard_events=(),
    )
    assert finished.escalation is not None
    escalation_id = finished.escalation[0]
    [outcome] = finished.facts.outcomes
    assert (outcome.kind, outcome.escalation_id) == ("escalated", escalation_id)
    assert outcome.message_id == turn.message_id
    async with database.read() as session:
        messages = list(
            await session.scalars(select(db.Message).where(db.Message.conversation_id == turn.id))
        )
        conversation = await session.get(db.Conversation, turn.id)
    assert [m.role for m in messages] == ["patient"]
    assert messages[0].outcomes == [escalation(escalation_id)]
    assert conversation is not None
    rebuilt = conversation_facts(conversation, messages, await _escalations(database, turn.id))
    assert rebuilt.outcomes == finished.facts.outcomes


async def _finish(store: ConversationStore, turn: ConversationRecord) -> tuple[str, str] | None:
    """Finish `turn` as a request for a dentist."""
    assert turn.message_id is not None
    finished = await store.finish_turn(
        turn,
        message=PatientMessageLabels(
            message_id=turn.message_id,
            urgency="ROUTINE",
            intent="talk_to_doctor",
            memory_pattern="none",
        ),
        reply=REPLY,
        state=ConversationState(),
        escalations=(EscalationRequest(urgency="DOCTOR_REQUIRED", summary=DOCTOR),),
        guard_events=(),
    )
    return finished.escalation


def _escalation(conversation_id: str, status: str) -> db.Escalation:
    now = utcnow()
    return db.Escalation(
        id=uuid.uuid4().hex,
        conversation_id=conversation_id,
        urgency="DOCTOR_REQUIRED",
        summary="s",
        last_summary="s",
        status=status,
        created_at=now,
        updated_at=now,
    )


# The table as revision 0004 left it, for writing rows before the migration.
ESCALATIONS_0004 = sa.table(
    "escalations",
    sa.column("id", sa.String()),
    sa.column("conversation_id", sa.String()),
    sa.column("urgency", sa.String()),
    sa.column("reasons", sa.Text()),
    sa.column("summary", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("created_at", UTCDateTime()),
)


async def test_the_migration_folds_existing_duplicates(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine, "0004")
        start = utcnow().replace(microsecond=0) - timedelta(hours=1)
        rows = [
            ("e1", "DOCTOR_REQUIRED", "doctor.rule", "first", "open", 0),
            ("e2", "EMERGENCY", "emergency.rule", "second", "claimed", 1),
            ("e3", "DOCTOR_REQUIRED", "doctor.rule", "third", "open", 2),
            ("e0", "ROUTINE", "", "long ago", "closed", -5),
        ]
        async with database.engine.begin() as connection:
            await connection.execute(
                sa.table(
                    "conversations",
                    *(sa.column(name) for name in ("id", "channel", "external_user_id")),
                    sa.column("language"),
                    sa.column("state", sa.JSON()),
                    sa.column("created_at", UTCDateTime()),
                    sa.column("updated_at", UTCDateTime()),
                )
                .insert()
                .values(
                    id="c1",
                    channel="web",
                    external_user_id="u1",
                    language="en",
                    state={},
                    created_at=start,
                    updated_at=start,
                )
            )
            await connection.execute(
                ESCALATIONS_0004.insert(),
                [
                    {
                        "id": id_,
                        "conversation_id": "c1",
                        "urgency": urgency,
                        "reasons": reasons,
                        "summary": summary,
                        "status": status,
                        "created_at": start + timedelta(minutes=minutes),
                    }
                    for id_, urgency, reasons, summary, status, minutes in rows
                ],
            )
        await upgrade_database(database.engine)
        async with database.transaction() as session:
            kept = {row.id: row for row in await session.scalars(select(db.Escalation))}
        assert set(kept) == {"e0", "e1"}
        folded = kept["e1"]
        assert (folded.urgency, folded.reasons, folded.message_count) == (
            "EMERGENCY",
            "emergency.rule",
            3,
        )
        assert (folded.status, folded.summary, folded.last_summary) == ("open", "first", "third")
        assert folded.updated_at == start + timedelta(minutes=2)
        assert (kept["e0"].message_count, kept["e0"].last_summary) == (1, "long ago")
    finally:
        await database.dispose()
