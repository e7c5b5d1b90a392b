"""The Neo4j memory store on a real Bolt server (ArcadeDB, tests/bolt_server.py): what only it
has (constraints, parameters, driver failures, the factory), then every store semantic until
the shared contract suite (tests/test_memory_contract.py) runs on it too."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import neo4j
import pytest
from neo4j.exceptions import Neo4jError
from pydantic import SecretStr

from serving.memory.factory import MemoryMisconfigured, create_memory_store
from serving.memory.neo4j_store import KEY_PROPERTY, Neo4jMemoryStore
from serving.memory.records import (
    LABELS,
    GraphExport,
    MessageFacts,
    OutcomeFacts,
    PatientHistory,
    PatternOutcomes,
    TurnFacts,
)
from serving.memory.store import MemoryUnavailable
from serving.settings import Settings
from tests.bolt_server import (
    BoltServer,
    bolt_driver,
    bolt_server_fixture,  # noqa: F401
    free_ports,
    neo4j_memory_store_fixture,  # noqa: F401
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATIENT = 41
OTHER_PATIENT = 42


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def turn(
    conversation: str = "c1",
    *,
    patient: int | None = PATIENT,
    minute: float = 0,
    first_message: int = 1,
    pattern: str | None = "booking",
    outcomes: tuple[OutcomeFacts, ...] = (),
    language: str = "he",
) -> TurnFacts:
    """A patient message and the assistant's reply, `minute` minutes after T0."""
    return TurnFacts(
        conversation_id=conversation,
        channel="web",
        patient_id=patient,
        language=language,
        at=at(minute + 1),
        messages=(
            MessageFacts(
                id=first_message,
                role="patient",
                at=at(minute),
                language=language,
                pattern=pattern,
                intent="book",
                urgency="routine",
            ),
            MessageFacts(
                id=first_message + 1, role="assistant", at=at(minute + 1), language=language
            ),
        ),
        outcomes=outcomes,
    )


def booked(message: int, minute: float, *, provider: int = 7) -> OutcomeFacts:
    return OutcomeFacts(
        id=f"booked:{message}",
        kind="booked",
        at=at(minute),
        message_id=message,
        provider_id=provider,
        provider_name="Dr. Levi",
        visit_at=at(60 * 24 * 3),
    )


def escalated(message: int, minute: float, escalation: str = "e1") -> OutcomeFacts:
    return OutcomeFacts(
        id=f"escalation:{escalation}",
        kind="escalated",
        at=at(minute),
        message_id=message,
        escalation_id=escalation,
    )


async def run_cypher(server: BoltServer, query: str, **parameters: object) -> list[dict]:
    async with bolt_driver(server) as driver:
        records, _, _ = await driver.execute_query(query, parameters, database_=server.database)
        return [record.data() for record in records]


# --- what only the Neo4j store has ------------------------------------------------------


async def test_prepare_is_idempotent_and_its_constraints_refuse_duplicates(
    neo4j_memory_store: Neo4jMemoryStore, bolt_server: BoltServer
) -> None:
    await neo4j_memory_store.prepare()  # the fixture prepared once already

    constraints = await run_cypher(bolt_server, "SHOW CONSTRAINTS")
    unique = {(c["labelsOrTypes"][0], c["properties"][0]) for c in constraints}
    assert unique == set(KEY_PROPERTY.items())
    for label, key in KEY_PROPERTY.items():
        await run_cypher(bolt_server, f"CREATE (n:{label} {{{key}: $value}})", value=1)
        with pytest.raises(Neo4jError):
            await run_cypher(bolt_server, f"CREATE (n:{label} {{{key}: $value}})", value=1)
    assert await neo4j_memory_store.counts() == dict.fromkeys(LABELS, 1)


async def test_values_travel_as_parameters_never_as_query_text(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    hostile = "x' }) DETACH DELETE n // \"`$param\\"
    facts = turn(
        f"c-{hostile}",
        pattern=f"p-{hostile}",
        outcomes=(replace(escalated(1, 1, hostile), resolved_at=at(5), resolved_by=hostile),),
        language=hostile,
    )
    await neo4j_memory_store.record(facts)
    await neo4j_memory_store.record(facts)

    history = await neo4j_memory_store.history(PATIENT)
    assert [c.id for c in history.conversations] == [f"c-{hostile}"]
    assert history.conversations[0].language == hostile
    assert history.patterns == {f"p-{hostile}": 1}
    assert history.outcomes[0].escalation_id == hostile
    assert history.outcomes[0].resolved_by == hostile
    assert await neo4j_memory_store.counts() == {
        "Patient": 1,
        "Conversation": 1,
        "Message": 2,
        "Pattern": 1,
        "Outcome": 1,
        "Doctor": 1,
    }


async def test_times_keep_their_instant_to_the_microsecond(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    local = timezone(timedelta(hours=3))
    moment = datetime(2026, 3, 2, 12, 30, 15, 123457, tzinfo=local)
    facts = TurnFacts(
        conversation_id="c1",
        channel="telegram",
        patient_id=PATIENT,
        language="en",
        at=moment,
        messages=(MessageFacts(id=1, role="patient", at=moment, language="en"),),
        outcomes=(replace(booked(1, 0), at=moment, visit_at=moment),),
    )
    await neo4j_memory_store.record(facts)

    history = await neo4j_memory_store.history(PATIENT)
    conversation, outcome = history.conversations[0], history.outcomes[0]
    assert conversation.last_at == moment and conversation.last_at.tzinfo == UTC
    assert str(conversation.last_at) == "2026-03-02 09:30:15.123457+00:00"
    assert outcome.at == outcome.visit_at == moment
    assert (await neo4j_memory_store.dump()).nodes[2]["properties"]["at"] == (
        "2026-03-02T09:30:15.123457+00:00"
    )


async def test_naive_times_are_refused_before_anything_is_written(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    facts = replace(turn(), at=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        await neo4j_memory_store.record(facts)
    assert sum((await neo4j_memory_store.counts()).values()) == 0


async def _every_call(store: Neo4jMemoryStore) -> None:
    """Each method once; each must raise MemoryUnavailable."""
    facts = turn("c-secret-conversation", patient=987654)
    calls = [
        store.prepare(),
        store.record(facts),
        store.history(987654),
        store.pattern_outcomes(since=T0, idle_before=T0),
        store.export(987654),
        store.erase(987654, ["c-secret-conversation"]),
        store.clear(),
        store.dump(),
        store.load(GraphExport()),
        store.counts(),
    ]
    for call in calls:
        with pytest.raises(MemoryUnavailable) as caught:
            await call
        message = str(caught.value)
        assert "987654" not in message and "secret" not in message
        assert message.startswith("neo4j ")


async def test_an_address_nothing_listens_on_is_memory_unavailable() -> None:
    (port,) = free_ports(1)
    driver = neo4j.AsyncGraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("u", "p"))
    # The driver retries a refused connection until the limit: keep the bulk calls' short too.
    store = Neo4jMemoryStore(driver, database="memory", timeout=0.5, bulk_timeout=0.5)
    try:
        await _every_call(store)
    finally:
        await store.close()


@pytest.fixture(name="silent_port")
def silent_port_fixture() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


async def test_a_server_that_never_answers_gives_up_after_the_timeout(silent_port: int) -> None:
    driver = neo4j.AsyncGraphDatabase.driver(f"bolt://127.0.0.1:{silent_port}", auth=("u", "p"))
    store = Neo4jMemoryStore(driver, database="memory", timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(MemoryUnavailable, match="TimeoutError"):
            await store.history(PATIENT)
    finally:
        await store.close()
    assert time.monotonic() - started < 5


async def test_bulk_operations_wait_longer_than_a_turn(silent_port: int) -> None:
    """A turn's call gives up after the store's timeout; clearing, dumping and erasing (and
    loading's batches) wait for the bulk timeout: ten times as long unless told otherwise."""
    driver = neo4j.AsyncGraphDatabase.driver(f"bolt://127.0.0.1:{silent_port}", auth=("u", "p"))
    store = Neo4jMemoryStore(driver, database="memory", timeout=0.1)
    tuned = Neo4jMemoryStore(driver, database="memory", timeout=0.1, bulk_timeout=0.3)
    try:
        with pytest.raises(MemoryUnavailable, match=r"limit 0\.1s"):
            await store.history(PATIENT)
        for call in (store.clear(), store.dump(), store.erase(PATIENT)):
            started = time.monotonic()
            with pytest.raises(MemoryUnavailable, match="limit 1s"):
                await call
            assert 0.9 < time.monotonic() - started < 5
        with pytest.raises(MemoryUnavailable, match=r"limit 0\.3s"):
            await tuned.clear()
    finally:
        await store.close()


def clinic_graph(conversations: int, messages_each: int) -> GraphExport:
    """A graph as `dump` gives it: patients 1-10 (patient 1 has half the conversations), five
    patterns, three doctors, and per conversation its messages (every other one matching a
    pattern) and one visit booked with a doctor."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []

    def node(label: str, key: object, /, **properties: object) -> None:
        nodes.append({"label": label, "key": str(key), "properties": properties})

    def edge(kind: str, start: str, end: str, **properties: object) -> None:
        edges.append({"type": kind, "from": start, "to": end, "properties": properties})

    for patient in range(1, 11):
        node("Patient", patient, id=patient)
    for name in ("booking", "pain", "price", "hours", "cancel"):
        node("Pattern", name, name=name)
    for doctor in range(1, 4):
        node("Doctor", f"provider:{doctor}", key=f"provider:{doctor}", name=f"Dr. {doctor}")
    for c in range(conversations):
        cid = f"c{c:05d}"
        start, patient = at(c).isoformat(timespec="microseconds"), 1 if c % 2 else 2 + c % 9
        last = at(c + messages_each).isoformat(timespec="microseconds")
        node(
            "Conversation",
            cid,
            id=cid,
            channel="web",
            language="he",
            started_at=start,
            last_at=last,
        )
        edge("HAD", f"Patient:{patient}", f"Conversation:{cid}", at=start)
        for m in range(messages_each):
            mid = c * messages_each + m + 1
            moment = at(c + m).isoformat(timespec="microseconds")
            role = "patient" if m % 2 == 0 else "assistant"
            node("Message", mid, id=mid, role=role, at=moment, language="he")
            edge("CONTAINS", f"Conversation:{cid}", f"Message:{mid}", at=moment)
            if role == "patient":
                pattern = ("booking", "pain")[c % 2]
                edge("MATCHED", f"Message:{mid}", f"Pattern:{pattern}", at=moment)
        oid = f"booked:{c * messages_each + 1}"
        node("Outcome", oid, id=oid, kind="booked", at=start, visit_at=last, appointment_id=c)
        edge("LED_TO", f"Message:{c * messages_each + 1}", f"Outcome:{oid}", at=start)
        edge("WITH", f"Outcome:{oid}", f"Doctor:provider:{1 + c % 3}")
    return GraphExport(
        nodes=sorted(nodes, key=lambda n: (n["label"], n["key"])),
        edges=sorted(edges, key=lambda e: (e["type"], e["from"], e["to"])),
    )


async def test_bulk_operations_on_thousands_of_nodes_run_in_batches(
    neo4j_memory_store: Neo4jMemoryStore,
    bolt_server: BoltServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph = clinic_graph(conversations=200, messages_each=8)  # 2,018 nodes, 3,000 edges
    transactions = {"read": 0, "write": 0}

    def counted(method: str, original: Any) -> Any:
        async def run(self: neo4j.AsyncSession, *args: Any, **kwargs: Any) -> Any:
            transactions[method] += 1
            return await original(self, *args, **kwargs)

        return run

    for method, original in (
        ("read", neo4j.AsyncSession.execute_read),
        ("write", neo4j.AsyncSession.execute_write),
    ):
        monkeypatch.setattr(neo4j.AsyncSession, f"execute_{method}", counted(method, original))

    store = Neo4jMemoryStore(
        bolt_driver(bolt_server), database=bolt_server.database, timeout=5.0, batch=500
    )
    started = time.monotonic()
    try:
        await store.load(graph)
        assert transactions["write"] >= (len(graph.nodes) + len(graph.edges)) // 500
        assert await store.counts() == {
            "Patient": 10,
            "Conversation": 200,
            "Message": 1600,
            "Pattern": 5,
            "Outcome": 200,
            "Doctor": 3,
        }

        transactions["read"] = 0
        assert await store.dump() == graph
        assert transactions["read"] >= len(graph.nodes) // 500

        transactions["write"] = 0
        # Patient 1: 100 conversations, 800 messages, 100 outcomes.
        assert await store.erase(1) == 1 + 100 + 800 + 100
        assert transactions["write"] >= 1001 // 500
        assert (await store.counts())["Message"] == 800
        assert await store.history(1) == PatientHistory(1)

        transactions["write"] = 0
        await store.clear()
        assert await store.counts() == dict.fromkeys(LABELS, 0)
        assert transactions["write"] >= 1017 // 500
    finally:
        await store.close()
    assert time.monotonic() - started < 60


async def test_a_dump_leaves_out_what_is_not_whole_in_it(
    neo4j_memory_store: Neo4jMemoryStore, bolt_server: BoltServer
) -> None:
    """A dump is read page by page while turns go on: a message it read without the
    conversation that CONTAINS it (created after that label's pages) is left for the next
    dump, with its outcome; the loaded dump is a graph either store accepts."""
    await neo4j_memory_store.record(turn(outcomes=(booked(1, 1),)))
    await run_cypher(
        bolt_server,
        "CREATE (m:Message {id: 90, role: 'patient', at: $at, language: 'he'}) "
        "CREATE (o:Outcome {id: 'booked:90', kind: 'booked', at: $at}) "
        "CREATE (m)-[:LED_TO {at: $at}]->(o)",
        at=at(3),
    )
    dump = await neo4j_memory_store.dump()
    assert "Message:90" not in {f"{n['label']}:{n['key']}" for n in dump.nodes}
    assert "Outcome:booked:90" not in {f"{n['label']}:{n['key']}" for n in dump.nodes}
    assert all("90" not in e["from"] for e in dump.edges)
    await neo4j_memory_store.clear()
    await neo4j_memory_store.load(dump)
    assert await neo4j_memory_store.dump() == dump


async def test_a_store_prepares_itself_before_its_first_write(
    neo4j_memory_store: Neo4jMemoryStore,
    bolt_server: BoltServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app started while the graph was out of reach, so nothing created the constraints:
    the first write creates them, once, however many turns write at the same moment."""
    for label, key in KEY_PROPERTY.items():
        await run_cypher(bolt_server, f"DROP CONSTRAINT {label.lower()}_{key} IF EXISTS")
    assert await run_cypher(bolt_server, "SHOW CONSTRAINTS") == []
    prepared = 0
    prepare = Neo4jMemoryStore.prepare

    async def counted(self: Neo4jMemoryStore) -> None:
        nonlocal prepared
        prepared += 1
        await prepare(self)

    monkeypatch.setattr(Neo4jMemoryStore, "prepare", counted)
    store = Neo4jMemoryStore(bolt_driver(bolt_server), database=bolt_server.database)
    try:
        await store.history(PATIENT)  # a read needs no constraint
        assert prepared == 0
        await asyncio.gather(
            *(store.record(turn(f"c{n}", first_message=2 * n + 1)) for n in range(6))
        )
        assert prepared == 1
        unique = {
            (c["labelsOrTypes"][0], c["properties"][0])
            for c in await run_cypher(bolt_server, "SHOW CONSTRAINTS")
        }
        assert unique == set(KEY_PROPERTY.items())
        await store.record(turn("c9", first_message=19))
        assert prepared == 1
    finally:
        await store.close()


async def test_a_failed_preparation_is_tried_again_at_the_next_write() -> None:
    (port,) = free_ports(1)
    driver = neo4j.AsyncGraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("u", "p"))
    store = Neo4jMemoryStore(driver, database="memory", timeout=1.0)
    try:
        for _ in range(2):
            with pytest.raises(MemoryUnavailable, match="neo4j prepare failed"):
                await store.record(turn())
    finally:
        await store.close()


async def test_a_wrong_password_is_memory_unavailable(bolt_server: BoltServer) -> None:
    wrong = "wrong-password-7c1d"
    store = Neo4jMemoryStore(
        bolt_driver(bolt_server, password=wrong), database=bolt_server.database
    )
    try:
        with pytest.raises(MemoryUnavailable) as caught:
            await store.counts()
    finally:
        await store.close()
    assert wrong not in str(caught.value) and bolt_server.password not in str(caught.value)


async def test_the_driver_logs_no_query_parameters(
    neo4j_memory_store: Neo4jMemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await neo4j_memory_store.record(turn("c-logged-conversation", patient=5550123))
    await neo4j_memory_store.history(5550123)

    assert logging.getLogger("neo4j").getEffectiveLevel() == logging.WARNING
    driver_records = [r for r in caplog.records if r.name.startswith("neo4j")]
    assert not any("5550123" in r.getMessage() for r in driver_records)
    assert not any("c-logged-conversation" in r.getMessage() for r in caplog.records)


def _neo4j_settings(server: BoltServer, **values: object) -> Settings:
    return Settings(
        _env_file=None,
        memory_backend="neo4j",
        neo4j_uri=server.uri,
        neo4j_user=server.user,
        neo4j_password=SecretStr(server.password),
        neo4j_database=server.database,
        neo4j_timeout_seconds=3.0,
        **values,
    )


async def test_the_factory_builds_a_working_store_from_settings(
    bolt_server: BoltServer, neo4j_memory_store: Neo4jMemoryStore
) -> None:
    store = create_memory_store(_neo4j_settings(bolt_server), database=None)  # type: ignore[arg-type]
    try:
        assert isinstance(store, Neo4jMemoryStore) and store.kind == "neo4j"
        await store.record(turn())
        assert (await store.history(PATIENT)).conversations[0].id == "c1"
    finally:
        await store.close()
    assert (await neo4j_memory_store.counts())["Message"] == 2


NETWORK_PROBE = """
import asyncio, json, sys
from datetime import UTC, datetime

reached = []


def audit(event, args):
    if event == "socket.connect":
        reached.append(list(args[1][:2]) if isinstance(args[1], tuple) else repr(args[1]))
    elif event == "socket.getaddrinfo":
        reached.append(f"lookup {args[0]}")


sys.addaudithook(audit)

from serving.memory.factory import create_memory_store
from serving.memory.records import MessageFacts, TurnFacts
from serving.settings import Settings


async def main():
    store = create_memory_store(Settings(_env_file=None), database=None)
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    message = MessageFacts(id=1, role="patient", at=moment, language="he")
    await store.record(TurnFacts("c1", "web", 41, "he", moment, messages=(message,)))
    history = await store.history(41)
    await store.close()
    print(json.dumps({"reached": reached, "conversations": len(history.conversations)}))


asyncio.run(main())
"""


def test_the_store_reaches_nothing_but_its_bolt_server(
    bolt_server: BoltServer, neo4j_memory_store: Neo4jMemoryStore
) -> None:
    """In a fresh interpreter that notes every connection and name lookup: the factory's store
    (its driver's telemetry off) talks to the configured address only."""
    host, port = bolt_server.uri.removeprefix("bolt://").split(":")
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "MEMORY_BACKEND": "neo4j",
        "NEO4J_URI": bolt_server.uri,
        "NEO4J_USER": bolt_server.user,
        "NEO4J_PASSWORD": bolt_server.password,
        "NEO4J_DATABASE": bolt_server.database,
    }
    done = subprocess.run(
        [sys.executable, "-c", NETWORK_PROBE],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    probe = json.loads(done.stdout.splitlines()[-1])

    assert probe["conversations"] == 1
    assert probe["reached"] and set(map(str, probe["reached"])) <= {
        str([host, int(port)]),
        f"lookup {host}",
    }


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"neo4j_uri": None}, "NEO4J_URI"),
        ({"neo4j_uri": "  "}, "NEO4J_URI"),
        ({"neo4j_uri": "graph.clinic.internal:7687"}, "NEO4J_URI"),
        ({"neo4j_uri": "http://graph.clinic.internal:7474"}, "NEO4J_URI"),
        ({"neo4j_uri": "bolt://"}, "NEO4J_URI"),
        ({"neo4j_password": None}, "NEO4J_PASSWORD"),
        ({"neo4j_password": SecretStr("")}, "NEO4J_PASSWORD"),
    ],
)
def test_the_factory_names_a_missing_or_malformed_neo4j_setting(
    values: dict[str, object], named: str
) -> None:
    server = BoltServer("bolt://127.0.0.1:1", "neo4j", "pw", "memory", log=None)  # type: ignore[arg-type]
    settings = _neo4j_settings(server).model_copy(update=values)
    with pytest.raises(MemoryMisconfigured, match=named):
        create_memory_store(settings, database=None)  # type: ignore[arg-type]


# --- the store semantics (until the shared contract suite runs on this store) ------------


async def test_recording_the_same_facts_twice_leaves_the_same_graph(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    facts = turn(outcomes=(booked(1, 1),))
    await neo4j_memory_store.record(facts)
    once = await neo4j_memory_store.dump()
    await neo4j_memory_store.record(facts)

    assert await neo4j_memory_store.dump() == once
    assert len(once.nodes) == 7 and len(once.edges) == 6


async def test_a_conversation_spans_the_earliest_and_latest_times_seen(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn(minute=10, first_message=3, language="en"))
    await neo4j_memory_store.record(turn(minute=0, first_message=1, language="ru"))

    (conversation,) = (await neo4j_memory_store.history(PATIENT)).conversations
    assert conversation.started_at == at(0) and conversation.last_at == at(11)
    assert conversation.language == "en"  # the newest facts' language


async def test_a_later_verified_turn_binds_and_another_patient_takes_over(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn(patient=None))
    assert await neo4j_memory_store.history(PATIENT) == PatientHistory(PATIENT)

    await neo4j_memory_store.record(turn(minute=5, first_message=3))
    assert len((await neo4j_memory_store.history(PATIENT)).conversations) == 1

    await neo4j_memory_store.record(turn(patient=OTHER_PATIENT, minute=9, first_message=5))
    assert (await neo4j_memory_store.history(PATIENT)).conversations == ()
    assert len((await neo4j_memory_store.history(OTHER_PATIENT)).conversations) == 1
    had = [e for e in (await neo4j_memory_store.dump()).edges if e["type"] == "HAD"]
    assert had == [
        {
            "type": "HAD",
            "from": f"Patient:{OTHER_PATIENT}",
            "to": "Conversation:c1",
            "properties": {"at": "2026-03-02T09:00:00.000000+00:00"},  # the conversation's start
        }
    ]


async def test_an_outcome_from_a_message_of_another_conversation_writes_nothing(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn("c2", first_message=20))
    before = await neo4j_memory_store.dump()

    for source in (20, 99, None):
        facts = turn("c1", outcomes=(replace(booked(1, 1), message_id=source),))
        with pytest.raises(ValueError):
            await neo4j_memory_store.record(facts)
        assert await neo4j_memory_store.dump() == before


async def test_an_outcome_may_come_from_a_message_recorded_earlier(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn())
    later = replace(turn(minute=3, first_message=3), outcomes=(escalated(1, 4),))
    await neo4j_memory_store.record(later)

    (outcome,) = (await neo4j_memory_store.history(PATIENT)).outcomes
    assert outcome.message_id == 1 and outcome.kind == "escalated"


async def test_a_resolution_updates_the_outcome_and_keeps_its_led_to(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn(outcomes=(escalated(1, 1),)))
    close = TurnFacts(
        conversation_id="c1",
        channel="web",
        patient_id=PATIENT,
        language="he",
        at=at(30),
        outcomes=(
            replace(escalated(1, 1), message_id=None, resolved_at=at(30), resolved_by="Cohen"),
        ),
    )
    await neo4j_memory_store.record(close)
    await neo4j_memory_store.record(close)

    (outcome,) = (await neo4j_memory_store.history(PATIENT)).outcomes
    assert (outcome.message_id, outcome.resolved_at, outcome.resolved_by) == (1, at(30), "Cohen")
    graph = await neo4j_memory_store.dump()
    doctors = [n for n in graph.nodes if n["label"] == "Doctor"]
    assert doctors == [
        {
            "label": "Doctor",
            "key": "dentist:Cohen",
            "properties": {"key": "dentist:Cohen", "name": "Cohen"},
        }
    ]
    resolved = [e for e in graph.edges if e["type"] == "RESOLVED_BY"]
    assert resolved[0]["properties"] == {"at": "2026-03-02T09:30:00.000000+00:00"}
    assert [e["from"] for e in graph.edges if e["type"] == "LED_TO"] == ["Message:1"]


async def test_history_is_newest_first_within_the_limit(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    for n in range(3):
        await neo4j_memory_store.record(
            turn(
                f"c{n}",
                minute=10 * n,
                first_message=10 * n + 1,
                pattern="booking" if n else "pain",
                outcomes=(booked(10 * n + 1, 10 * n + 1, provider=n),),
            )
        )
    await neo4j_memory_store.record(turn("c-other", patient=OTHER_PATIENT, first_message=90))

    history = await neo4j_memory_store.history(PATIENT, limit=2)
    assert [c.id for c in history.conversations] == ["c2", "c1"]
    assert [o.id for o in history.outcomes] == ["booked:21", "booked:11"]
    assert history.outcomes[0].provider_id == 2
    assert history.outcomes[0].provider_name == "Dr. Levi"
    assert history.patterns == {"booking": 2, "pain": 1}
    assert await neo4j_memory_store.history(12345) == PatientHistory(12345)


async def test_pattern_outcomes_counts_booked_escalated_and_dropped(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    store = neo4j_memory_store
    await store.record(turn("c-booked", first_message=1, outcomes=(booked(1, 1),)))
    await store.record(turn("c-escalated", first_message=3, outcomes=(escalated(3, 1),)))
    await store.record(turn("c-dropped", first_message=5))
    await store.record(turn("c-quiet-recent", first_message=7, minute=100))
    # An outcome before the pattern's first match does not count for it.
    early = turn("c-before", first_message=9, pattern=None, outcomes=(booked(9, 1),))
    await store.record(early)
    await store.record(turn("c-before", first_message=11, minute=5))
    await store.record(turn("c-old", first_message=13, minute=-100, pattern="pain"))

    stats = await store.pattern_outcomes(since=at(-1), idle_before=at(50))
    assert stats == [PatternOutcomes("booking", conversations=5, booked=1, escalated=1, dropped=2)]
    wider = await store.pattern_outcomes(since=at(-100), idle_before=at(50))
    assert wider[1] == PatternOutcomes("pain", 1, 0, 0, 1)
    assert await store.pattern_outcomes(since=at(101), idle_before=at(50)) == []


async def test_an_export_holds_the_patient_and_the_shared_nodes_they_point_at(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    await neo4j_memory_store.record(turn(outcomes=(booked(1, 1),)))
    await neo4j_memory_store.record(
        turn("c-other", patient=OTHER_PATIENT, first_message=5, pattern="pain")
    )

    export = await neo4j_memory_store.export(PATIENT)
    keys = [f"{n['label']}:{n['key']}" for n in export.nodes]
    assert keys == [
        "Conversation:c1",
        "Doctor:provider:7",
        "Message:1",
        "Message:2",
        "Outcome:booked:1",
        "Patient:41",
        "Pattern:booking",
    ]
    assert [e["type"] for e in export.edges] == [
        "CONTAINS",
        "CONTAINS",
        "HAD",
        "LED_TO",
        "MATCHED",
        "WITH",
    ]
    message = export.nodes[2]
    assert message["properties"] == {
        "at": "2026-03-02T09:00:00.000000+00:00",
        "id": 1,
        "intent": "book",
        "language": "he",
        "role": "patient",
        "urgency": "routine",
    }
    assert await neo4j_memory_store.export(12345) == GraphExport()


async def test_erase_removes_the_patients_nodes_and_keeps_shared_ones(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    store = neo4j_memory_store
    await store.record(turn(outcomes=(booked(1, 1),)))
    await store.record(turn("c-unbound", patient=None, first_message=3))
    await store.record(turn("c-other", patient=OTHER_PATIENT, first_message=5))

    removed = await store.erase(PATIENT, ["c-unbound", "c-missing"])
    assert removed == 1 + 2 + 4 + 1
    assert await store.counts() == {
        "Patient": 1,
        "Conversation": 1,
        "Message": 2,
        "Pattern": 1,
        "Outcome": 0,
        "Doctor": 1,
    }
    assert await store.erase(PATIENT) == 0


async def test_a_dump_loads_back_into_an_empty_store(
    neo4j_memory_store: Neo4jMemoryStore,
) -> None:
    store = neo4j_memory_store
    await store.record(turn(outcomes=(booked(1, 1),)))
    await store.record(
        turn(
            "c2",
            first_message=3,
            outcomes=(replace(escalated(3, 4), resolved_at=at(9), resolved_by="Cohen"),),
        )
    )
    dump = await store.dump()

    with pytest.raises(ValueError, match="empty"):
        await store.load(dump)
    await store.clear()
    assert await store.counts() == dict.fromkeys(LABELS, 0)
    await store.load(dump)
    assert await store.dump() == dump


async def test_a_broken_dump_loads_nothing(neo4j_memory_store: Neo4jMemoryStore) -> None:
    await neo4j_memory_store.record(turn())
    dump = await neo4j_memory_store.dump()
    await neo4j_memory_store.clear()
    dangling = GraphExport(
        nodes=dump.nodes[1:], edges=dump.edges
    )  # the Conversation is gone, its edges stay
    for broken in (
        dangling,
        GraphExport(nodes=[{"label": "Person", "key": "1", "properties": {}}]),
        GraphExport(nodes=dump.nodes, edges=[{**dump.edges[0], "type": "KNOWS"}]),
    ):
        with pytest.raises(ValueError):
            await neo4j_memory_store.load(broken)
    assert await neo4j_memory_store.counts() == dict.fromkeys(LABELS, 0)


async def test_the_store_serves_concurrent_turns(neo4j_memory_store: Neo4jMemoryStore) -> None:
    await asyncio.gather(
        *(neo4j_memory_store.record(turn(f"c{n}", first_message=2 * n + 1)) for n in range(12))
    )
    assert (await neo4j_memory_store.counts())["Message"] == 24
