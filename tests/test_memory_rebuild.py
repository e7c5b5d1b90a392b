"""`dental memory rebuild` and `check`: a graph rebuilt from the app database is the graph the
turns wrote, on every store; the commands say what the store holds, whether it is behind, and
fail in one line when it cannot be reached."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from serving.app import create_app
from serving.assistant.store import Author
from serving.cli import app
from serving.cli.memory import differences
from serving.db import models as db
from serving.db.engine import Database
from serving.db.types import utcnow
from serving.escalation.links import DoctorLinks
from serving.memory.rebuild import app_database_counts, rebuild
from serving.memory.records import GraphExport
from serving.memory.service import Memory
from serving.memory.sql_store import SqlMemoryStore
from serving.memory.store import MemoryStore
from serving.memory.turn_outcomes import conversation_facts, escalation, visit
from tests.asgi import running
from tests.assistant_client import DANA_PHONE, INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.bolt_server import BoltServer
from tests.chat_app import CLINIC_MORNING
from tests.clinic_time import today_from
from tests.conftest import make_settings
from tests.test_assistant_memory import PatientDevice

EMERGENCY = "my face is swelling and I can't swallow"


def canonical(graph: GraphExport) -> str:
    """A dump as one comparable text: nodes and edges in a fixed order."""
    nodes = sorted(graph.nodes, key=lambda n: (n["label"], str(n["key"])))
    edges = sorted(graph.edges, key=lambda e: (e["type"], e["from"], e["to"]))
    return json.dumps({"nodes": nodes, "edges": edges}, sort_keys=True, default=str)


class LiveWriter:
    """What the live path does after each turn: the turn's new messages, as facts."""

    def __init__(self, database: Database, store: MemoryStore) -> None:
        self._database = database
        self._store = store
        self._seen: set[int] = set()

    async def after_close(self, conversation_id: str) -> None:
        """An escalation's close: the conversation's facts again, with its new state."""
        async with self._database.read() as session:
            conversation = await session.get(db.Conversation, conversation_id)
            assert conversation is not None
            messages = await session.scalars(
                select(db.Message).where(db.Message.conversation_id == conversation_id)
            )
            escalations = await session.scalars(
                select(db.Escalation).where(db.Escalation.conversation_id == conversation_id)
            )
            await self._store.record(
                conversation_facts(conversation, list(messages), list(escalations))
            )

    async def after_turn(self) -> None:
        async with self._database.read() as session:
            conversations = list(await session.scalars(select(db.Conversation)))
            for conversation in conversations:
                messages = list(
                    await session.scalars(
                        select(db.Message).where(db.Message.conversation_id == conversation.id)
                    )
                )
                new = [m for m in messages if m.id not in self._seen]
                if not new:
                    continue
                escalations = list(
                    await session.scalars(
                        select(db.Escalation).where(
                            db.Escalation.conversation_id == conversation.id
                        )
                    )
                )
                await self._store.record(conversation_facts(conversation, new, escalations))
                self._seen.update(m.id for m in new)


async def _latest_reply(database: Database, user_id: str) -> db.Message:
    async with database.read() as session:
        found = await session.scalar(
            select(db.Message)
            .join(db.Conversation, db.Conversation.id == db.Message.conversation_id)
            .where(db.Conversation.external_user_id == user_id, db.Message.role == "assistant")
            .order_by(db.Message.id.desc())
            .limit(1)
        )
    assert found is not None
    return found


async def _set_outcomes(database: Database, message_id: int, outcomes: list[Any]) -> None:
    """What the turn recorded on its reply, where the app does not record it itself yet."""
    async with database.transaction() as session:
        await session.execute(
            update(db.Message).where(db.Message.id == message_id).values(outcomes=outcomes)
        )


async def _chat_in_the_clinic(database_url: str, database: Database, writer: LiveWriter) -> None:
    """Three conversations through the chat API: a returning patient booking twice, an
    emergency that a dentist closes, an anonymous question; memory written after each turn."""
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    async with running(create_app(settings)) as client:
        dana = Patient(client, user_id="memory-dana", phone=DANA_PHONE)
        for text in ("I'd like to book a cleaning", "Can I come in next week instead?"):
            await dana.send(text)
            reply = await _latest_reply(database, dana.user_id)
            if not reply.outcomes:
                await _set_outcomes(
                    database,
                    reply.id,
                    [
                        visit(
                            "booked" if text.startswith("I'd") else "moved",
                            provider_id=1,
                            provider_name="Dr. Levi",
                            visit_at=utcnow(),
                            appointment_id=reply.id,
                        )
                    ],
                )
            await writer.after_turn()

        john = Patient(client, user_id="memory-john", phone=JOHN_PHONE)
        answered = await john.send(EMERGENCY)
        assert answered["escalation"] is not None
        reply = await _latest_reply(database, john.user_id)
        if not reply.outcomes:
            await _set_outcomes(database, reply.id, [escalation(answered["escalation"]["id"])])
        await writer.after_turn()
        async with database.transaction() as session:  # a dentist closes it
            await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == answered["escalation"]["id"])
                .values(status="closed", closed_at=utcnow(), doctor_name="Dr. Cohen")
            )
        await writer.after_close(reply.conversation_id)

        visitor = Patient(client, user_id="memory-visitor", trusted=False)
        await visitor.send("What are your opening hours?")
        await writer.after_turn()


async def test_a_rebuilt_graph_is_the_graph_the_turns_wrote(
    database_url: str, database: Database, memory_store: MemoryStore
) -> None:
    await memory_store.prepare()
    await _chat_in_the_clinic(database_url, database, LiveWriter(database, memory_store))
    live = await memory_store.dump()
    labels = {node["label"] for node in live.nodes}
    assert labels >= {"Patient", "Conversation", "Message", "Outcome", "Doctor"}, labels

    counts = await rebuild(database, memory_store, batch=2)  # several rounds

    assert canonical(await memory_store.dump()) == canonical(live)
    assert counts == await memory_store.counts()
    async with database.read() as session:
        messages = len(list(await session.scalars(select(db.Message.id))))
    assert counts["Message"] == messages
    assert counts["Outcome"] == 3  # booked, moved, escalated (closed)


@pytest.fixture(params=["sql", "neo4j"])
async def live_app(
    request: pytest.FixtureRequest, database_url: str, database: Database
) -> AsyncIterator[FastAPI]:
    """The app with its memory on each store (Neo4j: the session's Bolt server, emptied)."""
    overrides: dict[str, Any] = {}
    if request.param == "neo4j":
        bolt: BoltServer = request.getfixturevalue("bolt_server")
        overrides = {
            "memory_backend": "neo4j",
            "neo4j_uri": bolt.uri,
            "neo4j_user": bolt.user,
            "neo4j_password": bolt.password,
            "neo4j_database": bolt.database,
        }
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY, **overrides)
    app = create_app(settings, database=database, clock=today_from(CLINIC_MORNING))
    async with running(app) as http:
        app.state.http = http
        app.state.patient_device = PatientDevice()  # where the dentist's messages go
        app.state.outbox.register("api", app.state.patient_device)
        await app.state.memory.store.prepare()
        await app.state.memory.store.clear()
        yield app


async def test_a_rebuild_equals_what_the_app_wrote_turn_by_turn(
    live_app: FastAPI, database: Database
) -> None:
    """The app's own live path: a booking through the buttons, a question a dentist answers
    and closes, an anonymous question, and a patient verified part-way through (her first
    turn unbound): her HAD is dated from her first message either way."""
    http = live_app.state.http
    await Patient(http, "rebuild-dana").send("Are you open on Fridays?")
    await Patient(http, "rebuild-dana", DANA_PHONE).send("When is my next appointment?")
    john = Patient(http, "rebuild-john", JOHN_PHONE)
    offer = await john.send("I'd like a check-up next week")
    proposal = await john.press(offer, "slot:")
    done = await john.press(proposal, "confirm:")
    assert [a["type"] for a in done["actions"]][-1] == "booked", done
    asked = await john.send("My tooth has felt sensitive to cold since the filling, is that ok?")
    assert asked["escalation"] is not None, asked
    desk, dentist = live_app.state.doctor_desk, Author("Dr. Avi Cohen")
    escalation_id = asked["escalation"]["id"]
    conversation_id = await desk.join(escalation_id, dentist)
    await desk.send(conversation_id, "Rinse gently and come in tomorrow.", dentist)
    await desk.close_escalation(escalation_id, author="Dr. Avi Cohen")
    await Patient(http, "rebuild-visitor", trusted=False).send("Where are you located?")
    memory: Memory = live_app.state.memory
    await memory.settled()
    live = await memory.store.dump()
    kinds = {n["properties"].get("kind") for n in live.nodes if n["label"] == "Outcome"}
    assert kinds == {"booked", "escalated"}, kinds
    started = {
        f"Conversation:{n['key']}": n["properties"]["started_at"]
        for n in live.nodes
        if n["label"] == "Conversation"
    }
    had = [(e["to"], e["properties"]["at"]) for e in live.edges if e["type"] == "HAD"]
    assert len(had) == 2 and all(at == started[to] for to, at in had), had

    counts = await rebuild(database, memory.store, batch=1)

    assert canonical(await memory.store.dump()) == canonical(live)
    expected = await app_database_counts(database)
    assert (counts["Conversation"], counts["Message"]) == (
        expected.conversations,
        expected.messages,
    )


async def test_what_the_dentist_books_moves_and_cancels_is_told_and_remembered(
    live_app: FastAPI, database: Database
) -> None:
    """The desk's visits: each told to the patient under the dentist's name, each an outcome
    LED_TO from that message; written live (the escalation still open), equal to a rebuild,
    and `dental memory check` finds the store in step."""
    http = live_app.state.http
    john = Patient(http, "desk-john", JOHN_PHONE)
    asked = await john.send("My tooth has felt sensitive to cold since the filling, is that ok?")
    escalation_id = asked["escalation"]["id"]
    async with database.transaction() as session:
        token = await DoctorLinks(database).issue(session, escalation_id, None)
    desk, backend = live_app.state.doctor_desk, live_app.state.practice
    day = today_from(CLINIC_MORNING)().date() + timedelta(days=7)
    first, *_, later = await backend.get_available_slots("cleaning", day, day)
    booked = await desk.book(token, "cleaning", first.starts_at, first.provider_id)
    await desk.move(token, booked.id, later.starts_at, later.provider_id)
    await desk.cancel(token, booked.id)

    told = live_app.state.patient_device.texts
    assert len(told) == 3 and all(text.startswith("Dentist:\n") for text in told), told
    assert "is booked for" in told[0] and "is cancelled" in told[2], told
    memory: Memory = live_app.state.memory
    await memory.settled()
    [john_id] = [p.id for p in await backend.search_patient(phone=JOHN_PHONE)]
    history = await memory.store.history(john_id)
    visits = sorted((o for o in history.outcomes if o.kind != "escalated"), key=lambda o: o.at)
    assert [o.kind for o in visits] == ["booked", "moved", "cancelled"]
    assert [o.visit_at for o in visits] == [first.starts_at, later.starts_at, later.starts_at]
    async with database.read() as session:
        reports = list(
            await session.scalars(
                select(db.Message.id).where(db.Message.role == "doctor").order_by(db.Message.id)
            )
        )
    assert [o.message_id for o in visits] == reports
    assert differences(await memory.store.counts(), await app_database_counts(database)) == []
    live = await memory.store.dump()

    await rebuild(database, memory.store)

    assert canonical(await memory.store.dump()) == canonical(live)


async def test_a_rebuild_drops_what_the_app_database_no_longer_has(
    database_url: str, database: Database, memory_store: MemoryStore
) -> None:
    await memory_store.prepare()
    await _chat_in_the_clinic(database_url, database, LiveWriter(database, memory_store))
    async with database.transaction() as session:
        gone = await session.scalar(
            select(db.Conversation).where(db.Conversation.external_user_id == "memory-visitor")
        )
        assert gone is not None
        await session.delete(gone)
        # Opened, never written in (a verification that went no further): nothing to learn.
        session.add(db.Conversation(id="0" * 32, channel="web", external_user_id="silent"))

    counts = await rebuild(database, memory_store)

    dumped = canonical(await memory_store.dump())
    assert gone.id not in dumped and "0" * 32 not in dumped
    expected = await app_database_counts(database)
    assert (counts["Conversation"], counts["Message"]) == (
        expected.conversations,
        expected.messages,
    )
    async with database.read() as session:
        rows = len(list(await session.scalars(select(db.Conversation.id))))
    assert expected.conversations == rows - 1


async def test_a_bad_batch_size_is_refused_before_anything_is_cleared(
    database: Database, memory_store: MemoryStore
) -> None:
    await memory_store.prepare()
    before = await memory_store.counts()
    with pytest.raises(ValueError, match="batch"):
        await rebuild(database, memory_store, batch=0)
    assert await memory_store.counts() == before


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture
def operator_env(
    database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("MEMORY_BACKEND", "sql")
    yield


def dental(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.mark.usefixtures("operator_env")
async def test_check_says_behind_until_rebuild_then_up_to_date(
    database_url: str, database: Database
) -> None:
    settings = make_settings(database_url, integration_key=INTEGRATION_KEY)
    app = create_app(settings)
    async with running(app) as client:
        await Patient(client, user_id="memory-cli", trusted=False).send("Are you open today?")
        memory: Memory = app.state.memory
        await memory.settled()
    kept = await _in_thread(dental, "memory", "check")  # the live path wrote the turn
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.strip().endswith("up to date")
    await SqlMemoryStore(database).clear()  # writes lost while the store was out of reach

    behind = await _in_thread(dental, "memory", "check")
    assert behind.exit_code == 1, behind.output
    assert "memory store: sql, answering" in behind.stdout
    assert "behind:" in behind.stderr and "dental memory rebuild" in behind.stderr
    assert len(behind.stderr.strip().splitlines()) == 1
    assert "Traceback" not in behind.output

    rebuilt = await _in_thread(dental, "memory", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt the memory graph (sql)" in rebuilt.stdout
    async with database.read() as session:
        messages = len(list(await session.scalars(select(db.Message.id))))
    assert any(line.split() == ["Message", str(messages)] for line in rebuilt.stdout.splitlines())

    checked = await _in_thread(dental, "memory", "check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip().endswith("up to date")


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("operator_env")
async def test_an_unreachable_store_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as bound:  # a port that refuses connections
        bound.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MEMORY_BACKEND", "neo4j")
        monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{bound.getsockname()[1]}")
        monkeypatch.setenv("NEO4J_PASSWORD", "graph-password-not-for-output")
        monkeypatch.setenv("NEO4J_TIMEOUT_SECONDS", "2")
        for command in ("check", "rebuild"):
            result = await _in_thread(dental, "memory", command)
            assert result.exit_code == 1, result.output
            [line] = result.stderr.strip().splitlines()
            assert line.startswith("Error: ")
            assert "graph-password-not-for-output" not in result.output
            assert "Traceback" not in result.output


async def _in_thread(command: Any, *args: str) -> Result:
    """The command runs its own event loop, as from a shell: off this test's loop."""
    return await asyncio.to_thread(command, *args)
