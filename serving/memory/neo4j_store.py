"""The memory graph on Neo4j over Bolt (`MEMORY_BACKEND=neo4j`): the same answers as the SQL
store, kept to Cypher simple enough for any Bolt server (tested on ArcadeDB's; docs/MEMORY.md
lists where it differs from Neo4j).

Every value travels as a query parameter; labels, edge types and property names are the
constants below. Each call is one managed transaction bounded by the store's timeout, and any
driver error becomes `MemoryUnavailable` naming its class and code only: a driver's message can
quote the statement's values. Times are stored as native datetimes in UTC, to the microsecond.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import neo4j
from neo4j.exceptions import ConstraintError, DriverError, Neo4jError

from serving.memory.records import (
    EDGE_TYPES,
    LABELS,
    ConversationSummary,
    EdgeType,
    GraphExport,
    Label,
    OutcomeFacts,
    PatientHistory,
    PatternOutcomes,
    TurnFacts,
    check_facts,
    dentist_doctor_key,
    iso,
    parse_iso,
    provider_doctor_key,
)
from serving.memory.store import MemoryUnavailable

T = TypeVar("T")
Work = Callable[[neo4j.AsyncManagedTransaction], Awaitable[T]]

KEY_PROPERTY: dict[Label, str] = {
    "Patient": "id",
    "Conversation": "id",
    "Message": "id",
    "Pattern": "name",
    "Outcome": "id",
    "Doctor": "key",
}
"""The property that identifies a node of each label (unique: `prepare`)."""
EDGE_ENDS: dict[EdgeType, tuple[Label, Label]] = {
    "HAD": ("Patient", "Conversation"),
    "CONTAINS": ("Conversation", "Message"),
    "MATCHED": ("Message", "Pattern"),
    "LED_TO": ("Message", "Outcome"),
    "WITH": ("Outcome", "Doctor"),
    "RESOLVED_BY": ("Outcome", "Doctor"),
}
TIME_PROPERTIES = frozenset({"at", "started_at", "last_at", "visit_at", "resolved_at"})
INDEXES: tuple[tuple[Label, str], ...] = (
    ("Message", "at"),
    ("Conversation", "last_at"),
    ("Outcome", "at"),
)
BOOKED_KINDS = frozenset({"booked", "moved"})
MERGE_RACE_ATTEMPTS = 5

# One patient's part of the graph, edge type by edge type: every node but the Patient is the
# far end (`b`) of exactly one of these paths.
_PATIENT = "(:Patient {id: $patient_id})"
_CONVERSATIONS = f"{_PATIENT}-[:HAD]->"
_MESSAGES = f"{_CONVERSATIONS}(:Conversation)-[:CONTAINS]->"
_OUTCOMES = f"{_MESSAGES}(:Message)-[:LED_TO]->"
_PATIENT_EDGES: dict[EdgeType, str] = {
    "HAD": "MATCH (a:Patient {id: $patient_id})-[r:HAD]->(b:Conversation)",
    "CONTAINS": f"MATCH {_CONVERSATIONS}(a:Conversation)-[r:CONTAINS]->(b:Message)",
    "MATCHED": f"MATCH {_MESSAGES}(a:Message)-[r:MATCHED]->(b:Pattern)",
    "LED_TO": f"MATCH {_MESSAGES}(a:Message)-[r:LED_TO]->(b:Outcome)",
    "WITH": f"MATCH {_OUTCOMES}(a:Outcome)-[r:WITH]->(b:Doctor)",
    "RESOLVED_BY": f"MATCH {_OUTCOMES}(a:Outcome)-[r:RESOLVED_BY]->(b:Doctor)",
}

_UPSERT_CONVERSATION = """
MERGE (c:Conversation {id: $id})
ON CREATE SET c.channel = $channel, c.language = $language,
              c.started_at = $first, c.last_at = $last
ON MATCH SET c.channel = $channel,
             c.language = CASE WHEN $last >= c.last_at THEN $language ELSE c.language END,
             c.started_at = CASE WHEN $first < c.started_at THEN $first ELSE c.started_at END,
             c.last_at = CASE WHEN $last > c.last_at THEN $last ELSE c.last_at END
"""
_UNBIND_OTHER_PATIENT = """
MATCH (p:Patient)-[h:HAD]->(:Conversation {id: $id}) WHERE p.id <> $patient_id DELETE h
"""
_BIND_PATIENT = """
MERGE (p:Patient {id: $patient_id})
WITH p
MATCH (c:Conversation {id: $id})
MERGE (p)-[h:HAD]->(c)
ON CREATE SET h.at = $at
ON MATCH SET h.at = CASE WHEN $at < h.at THEN $at ELSE h.at END
"""
_UPSERT_MESSAGES = """
MATCH (c:Conversation {id: $id})
UNWIND $rows AS row
MERGE (m:Message {id: row.id})
SET m.role = row.role, m.at = row.at, m.language = row.language,
    m.intent = row.intent, m.urgency = row.urgency
MERGE (c)-[r:CONTAINS]->(m)
SET r.at = row.at
"""
_UNMATCH_OTHER_PATTERNS = """
UNWIND $rows AS row
MATCH (m:Message {id: row.id})-[r:MATCHED]->(p:Pattern)
WHERE row.pattern IS NULL OR p.name <> row.pattern
DELETE r
"""
_MATCH_PATTERNS = """
UNWIND $rows AS row
MATCH (m:Message {id: row.id})
MERGE (p:Pattern {name: row.pattern})
MERGE (m)-[r:MATCHED]->(p)
SET r.at = row.at
"""
_UPSERT_OUTCOMES = """
UNWIND $rows AS row
MERGE (o:Outcome {id: row.id})
ON CREATE SET o.kind = row.kind, o.at = row.at, o.escalation_id = row.escalation_id
SET o.visit_at = coalesce(row.visit_at, o.visit_at),
    o.resolved_at = coalesce(row.resolved_at, o.resolved_at)
"""
_LEAD_TO_NEW_OUTCOMES = """
UNWIND $rows AS row
MATCH (m:Message {id: row.message_id})
MATCH (o:Outcome {id: row.id})
MERGE (m)-[r:LED_TO]->(o)
ON CREATE SET r.at = row.at
"""


def _doctor_link(edge: EdgeType, edge_at: str) -> tuple[str, str]:
    """The two statements that point each outcome row at its one Doctor by `edge` (a later
    provider or dentist replaces the last), the edge's `at` set to `edge_at`."""
    unlink = (
        f"UNWIND $rows AS row MATCH (o:Outcome {{id: row.id}})-[r:{edge}]->(d:Doctor) "
        "WHERE d.key <> row.doctor DELETE r"
    )
    link = (
        "UNWIND $rows AS row MATCH (o:Outcome {id: row.id}) "
        "MERGE (d:Doctor {key: row.doctor}) SET d.name = coalesce(row.name, d.name) "
        f"MERGE (o)-[r:{edge}]->(d)" + (f" SET r.at = {edge_at}" if edge_at else "")
    )
    return unlink, link


_DOCTOR_LINKS: dict[EdgeType, tuple[str, str]] = {
    "WITH": _doctor_link("WITH", ""),
    "RESOLVED_BY": _doctor_link("RESOLVED_BY", "o.resolved_at"),
}


def _neo4j_quiet() -> None:
    """The driver logs each query with its parameters at DEBUG: patient data must not reach
    the logs whatever the root level is."""
    logging.getLogger("neo4j").setLevel(logging.WARNING)


class Neo4jMemoryStore:
    """The `MemoryStore` on a Neo4j (or other Bolt) server; the driver is the caller's, closed
    by `close`."""

    kind = "neo4j"

    def __init__(self, driver: neo4j.AsyncDriver, *, database: str, timeout: float = 5.0) -> None:
        _neo4j_quiet()
        self._driver = driver
        self._database = database
        self._timeout = timeout

    async def prepare(self) -> None:
        statements = [
            f"CREATE CONSTRAINT {label.lower()}_{key} IF NOT EXISTS "
            f"FOR (n:{label}) REQUIRE n.{key} IS UNIQUE"
            for label, key in KEY_PROPERTY.items()
        ] + [
            f"CREATE INDEX {label.lower()}_{key} IF NOT EXISTS FOR (n:{label}) ON (n.{key})"
            for label, key in INDEXES
        ]
        # One transaction each: Neo4j does not mix a schema change with other work in one.
        for statement in statements:
            await self._write("prepare", _run_statement(statement))

    async def record(self, facts: TurnFacts) -> None:
        check_facts(facts)
        await self._write("record", lambda tx: _record(tx, facts), merge_races=True)

    async def history(self, patient_id: int, *, limit: int = 50) -> PatientHistory:
        return await self._read("history", lambda tx: _history(tx, patient_id, limit))

    async def pattern_outcomes(
        self, *, since: datetime, idle_before: datetime
    ) -> list[PatternOutcomes]:
        since, idle_before = _utc(since), _utc(idle_before)
        return await self._read(
            "pattern_outcomes", lambda tx: _pattern_outcomes(tx, since, idle_before)
        )

    async def export(self, patient_id: int) -> GraphExport:
        return await self._read("export", lambda tx: _export(tx, patient_id))

    async def erase(self, patient_id: int, conversation_ids: Sequence[str] = ()) -> int:
        return await self._write("erase", lambda tx: _erase(tx, patient_id, conversation_ids))

    async def clear(self) -> None:
        await self._write("clear", _run_statement("MATCH (n) DETACH DELETE n"))

    async def dump(self) -> GraphExport:
        return await self._read("dump", _dump)

    async def load(self, graph: GraphExport) -> None:
        nodes, edges = _loadable(graph)
        await self._write("load", lambda tx: _load(tx, nodes, edges))

    async def counts(self) -> dict[str, int]:
        return await self._read("counts", _counts)

    async def close(self) -> None:
        await self._driver.close()

    async def _read(self, what: str, work: Work[T]) -> T:
        return await self._transaction(what, work, write=False)

    async def _write(self, what: str, work: Work[T], *, merge_races: bool = False) -> T:
        return await self._transaction(what, work, write=True, merge_races=merge_races)

    async def _transaction(
        self, what: str, work: Work[T], *, write: bool, merge_races: bool = False
    ) -> T:
        """`work` in one managed transaction within the timeout. With `merge_races`, a
        uniqueness refusal is tried again: two turns MERGE-ing the same new node at once is
        safe on Neo4j (MERGE locks) but on ArcadeDB the later commit is refused instead; run
        again, its MERGE finds the node."""
        bounded = neo4j.unit_of_work(timeout=self._timeout)(work)
        attempts = MERGE_RACE_ATTEMPTS if merge_races else 1
        try:
            async with asyncio.timeout(self._timeout):
                async with self._driver.session(database=self._database) as session:
                    attempt = 1
                    while True:
                        try:
                            if write:
                                return await session.execute_write(bounded)
                            return await session.execute_read(bounded)
                        except ConstraintError:
                            if attempt == attempts:
                                raise
                            attempt += 1
        except (Neo4jError, DriverError) as error:
            code = f" ({error.code})" if isinstance(error, Neo4jError) and error.code else ""
            raise MemoryUnavailable(f"neo4j {what} failed: {type(error).__name__}{code}") from error
        except (TimeoutError, OSError) as error:
            raise MemoryUnavailable(
                f"neo4j {what} failed: {type(error).__name__} (limit {self._timeout:g}s)"
            ) from error


def _run_statement(statement: str) -> Work[None]:
    async def run(tx: neo4j.AsyncManagedTransaction) -> None:
        await (await tx.run(statement)).consume()

    return run


async def _rows(
    tx: neo4j.AsyncManagedTransaction, query: str, **parameters: Any
) -> list[dict[str, Any]]:
    result = await tx.run(query, parameters)
    return [
        {key: _native(value) for key, value in record.data().items()} async for record in result
    ]


async def _execute(tx: neo4j.AsyncManagedTransaction, query: str, **parameters: Any) -> None:
    await (await tx.run(query, parameters)).consume()


def _native(value: Any) -> Any:
    """A value read back as plain Python; times aware in UTC. (ArcadeDB hands back a stored
    datetime without its zone: it keeps the UTC instant, so naive means UTC.)"""
    if isinstance(value, neo4j.time.DateTime):
        value = value.to_native()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dict):
        return {key: _native(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_native(item) for item in value]
    return value


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("memory times are timezone-aware")
    return moment.astimezone(UTC)


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


# --- record -----------------------------------------------------------------------------


async def _record(tx: neo4j.AsyncManagedTransaction, facts: TurnFacts) -> None:
    # Everything is checked before the first write: bad facts leave the graph untouched.
    at = _utc(facts.at)
    times = [at] + [_utc(m.at) for m in facts.messages]
    messages = [
        {
            "id": m.id,
            "role": m.role,
            "at": _utc(m.at),
            "language": m.language,
            "intent": m.intent,
            "urgency": m.urgency,
            "pattern": m.pattern,
        }
        for m in facts.messages
    ]
    outcomes = [_outcome_row(o) for o in facts.outcomes]
    new = await _new_outcomes(tx, facts)

    await _execute(
        tx,
        _UPSERT_CONVERSATION,
        id=facts.conversation_id,
        channel=facts.channel,
        language=facts.language,
        first=min(times),
        last=max(times),
    )
    if facts.patient_id is not None:
        bind = {"id": facts.conversation_id, "patient_id": facts.patient_id}
        await _execute(tx, _UNBIND_OTHER_PATIENT, **bind)
        await _execute(tx, _BIND_PATIENT, at=at, **bind)
    if messages:
        await _execute(tx, _UPSERT_MESSAGES, id=facts.conversation_id, rows=messages)
        await _execute(tx, _UNMATCH_OTHER_PATTERNS, rows=messages)
        matched = [row for row in messages if row["pattern"] is not None]
        if matched:
            await _execute(tx, _MATCH_PATTERNS, rows=matched)
    if outcomes:
        await _execute(tx, _UPSERT_OUTCOMES, rows=outcomes)
        created = [row for row in outcomes if row["id"] in new]
        if created:
            await _execute(tx, _LEAD_TO_NEW_OUTCOMES, rows=created)
        await _link_doctors(tx, "WITH", "provider", outcomes)
        await _link_doctors(tx, "RESOLVED_BY", "dentist", outcomes)


def _outcome_row(outcome: OutcomeFacts) -> dict[str, Any]:
    return {
        "id": outcome.id,
        "kind": outcome.kind,
        "at": _utc(outcome.at),
        "message_id": outcome.message_id,
        "visit_at": _maybe_utc(outcome.visit_at),
        "escalation_id": outcome.escalation_id,
        "resolved_at": _maybe_utc(outcome.resolved_at),
        "provider": None
        if outcome.provider_id is None
        else provider_doctor_key(outcome.provider_id),
        "provider_name": outcome.provider_name,
        "dentist": None if outcome.resolved_by is None else dentist_doctor_key(outcome.resolved_by),
        "dentist_name": outcome.resolved_by,
    }


async def _new_outcomes(tx: neo4j.AsyncManagedTransaction, facts: TurnFacts) -> set[str]:
    """The ids of the facts' outcomes not yet recorded; ValueError when one of them does not
    come from a message of this conversation."""
    ids = [o.id for o in facts.outcomes]
    if not ids:
        return set()
    found = await _rows(tx, "MATCH (o:Outcome) WHERE o.id IN $ids RETURN o.id AS id", ids=ids)
    recorded = {row["id"] for row in found}
    new = [o for o in facts.outcomes if o.id not in recorded]
    for outcome in new:
        if outcome.message_id is None:
            raise ValueError(f"new outcome {outcome.id} names no message")
    sources = {o.message_id for o in new} - {m.id for m in facts.messages}
    if sources:
        known = await _rows(
            tx,
            "MATCH (:Conversation {id: $id})-[:CONTAINS]->(m:Message) WHERE m.id IN $ids "
            "RETURN m.id AS id",
            id=facts.conversation_id,
            ids=sorted(i for i in sources if i is not None),
        )
        missing = sources - {row["id"] for row in known}
        if missing:
            raise ValueError(
                f"outcomes name messages {sorted(i for i in missing if i is not None)} "
                "that are not in this conversation"
            )
    return {o.id for o in new}


async def _link_doctors(
    tx: neo4j.AsyncManagedTransaction, edge: EdgeType, role: str, rows: list[dict[str, Any]]
) -> None:
    links = [{"id": r["id"], "doctor": r[role], "name": r[f"{role}_name"]} for r in rows if r[role]]
    if links:
        unlink, link = _DOCTOR_LINKS[edge]
        await _execute(tx, unlink, rows=links)
        await _execute(tx, link, rows=links)


# --- reads ------------------------------------------------------------------------------


async def _history(
    tx: neo4j.AsyncManagedTransaction, patient_id: int, limit: int
) -> PatientHistory:
    found = await _rows(
        tx,
        "MATCH (:Patient {id: $patient_id})-[:HAD]->(c:Conversation) RETURN properties(c) AS c",
        patient_id=patient_id,
    )
    conversations = _newest_first(
        (ConversationSummary(**row["c"]) for row in found), lambda c: (c.last_at, c.id)
    )[:limit]
    outcome_rows = await _rows(
        tx,
        "MATCH (c:Conversation)-[:CONTAINS]->(m:Message)-[:LED_TO]->(o:Outcome) "
        "WHERE c.id IN $ids "
        "OPTIONAL MATCH (o)-[:WITH]->(w:Doctor) "
        "OPTIONAL MATCH (o)-[:RESOLVED_BY]->(r:Doctor) "
        "RETURN properties(o) AS o, m.id AS message_id, w.key AS provider, "
        "w.name AS provider_name, r.name AS resolved_by",
        ids=[c.id for c in conversations],
    )
    outcomes = _newest_first((_outcome_facts(row) for row in outcome_rows), lambda o: (o.at, o.id))[
        :limit
    ]
    pattern_rows = await _rows(
        tx,
        f"MATCH {_MESSAGES}(m:Message)-[:MATCHED]->(p:Pattern) WHERE m.role = $role "
        "RETURN p.name AS name, count(*) AS n",
        patient_id=patient_id,
        role="patient",
    )
    return PatientHistory(
        patient_id=patient_id,
        conversations=tuple(conversations),
        outcomes=tuple(outcomes),
        patterns={row["name"]: row["n"] for row in sorted(pattern_rows, key=lambda r: r["name"])},
    )


def _newest_first(items: Iterable[T], key: Callable[[T], tuple[datetime, str]]) -> list[T]:
    """Latest time first, ties by id ascending (as the SQL store orders them)."""
    by_id = sorted(items, key=lambda item: key(item)[1])
    return sorted(by_id, key=lambda item: key(item)[0], reverse=True)


def _outcome_facts(row: dict[str, Any]) -> OutcomeFacts:
    node = row["o"]
    provider: str | None = row["provider"]
    return OutcomeFacts(
        id=node["id"],
        kind=node["kind"],
        at=node["at"],
        message_id=row["message_id"],
        provider_id=None if provider is None else int(provider.removeprefix("provider:")),
        provider_name=row["provider_name"],
        visit_at=node.get("visit_at"),
        escalation_id=node.get("escalation_id"),
        resolved_at=node.get("resolved_at"),
        resolved_by=row["resolved_by"],
    )


async def _pattern_outcomes(
    tx: neo4j.AsyncManagedTransaction, since: datetime, idle_before: datetime
) -> list[PatternOutcomes]:
    # Simple rows, counted here: the same answer on any Cypher engine.
    matches = await _rows(
        tx,
        "MATCH (c:Conversation)-[:CONTAINS]->(m:Message)-[:MATCHED]->(p:Pattern) "
        "WHERE m.role = $role AND m.at >= $since "
        "RETURN p.name AS pattern, c.id AS conversation, min(m.at) AS first, "
        "c.last_at AS last_at",
        role="patient",
        since=since,
    )
    outcome_rows = await _rows(
        tx,
        "MATCH (c:Conversation)-[:CONTAINS]->(:Message)-[:LED_TO]->(o:Outcome) "
        "WHERE c.id IN $ids RETURN c.id AS conversation, o.kind AS kind, o.at AS at",
        ids=sorted({row["conversation"] for row in matches}),
    )
    outcomes: dict[str, list[tuple[str, datetime]]] = {}
    for row in outcome_rows:
        outcomes.setdefault(row["conversation"], []).append((row["kind"], row["at"]))
    tally: dict[str, list[int]] = {}
    for row in matches:
        after = [kind for kind, at in outcomes.get(row["conversation"], []) if at >= row["first"]]
        counts = tally.setdefault(row["pattern"], [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += any(kind in BOOKED_KINDS for kind in after)
        counts[2] += "escalated" in after
        counts[3] += not after and row["last_at"] < idle_before
    return [
        PatternOutcomes(pattern, conversations, booked, escalated, dropped)
        for pattern, (conversations, booked, escalated, dropped) in sorted(tally.items())
    ]


async def _export(tx: neo4j.AsyncManagedTransaction, patient_id: int) -> GraphExport:
    patient = await _rows(
        tx, "MATCH (n:Patient {id: $patient_id}) RETURN properties(n) AS n", patient_id=patient_id
    )
    nodes = {("Patient", str(patient_id)): _node("Patient", row["n"]) for row in patient}
    edges = []
    for edge, match in _PATIENT_EDGES.items():
        start, end = EDGE_ENDS[edge]
        query = (
            f"{match} RETURN a.{KEY_PROPERTY[start]} AS a, properties(r) AS r, properties(b) AS b"
        )
        for row in await _rows(tx, query, patient_id=patient_id):
            node = _node(end, row["b"])
            nodes[(end, node["key"])] = node
            edges.append(_edge(edge, row["a"], node["key"], row["r"]))
    return _graph(nodes.values(), edges)


async def _dump(tx: neo4j.AsyncManagedTransaction) -> GraphExport:
    nodes = []
    for label in LABELS:
        for row in await _rows(tx, f"MATCH (n:{label}) RETURN properties(n) AS n"):
            nodes.append(_node(label, row["n"]))
    edges = []
    for edge in EDGE_TYPES:
        start, end = EDGE_ENDS[edge]
        query = (
            f"MATCH (a:{start})-[r:{edge}]->(b:{end}) "
            f"RETURN a.{KEY_PROPERTY[start]} AS a, b.{KEY_PROPERTY[end]} AS b, "
            "properties(r) AS r"
        )
        for row in await _rows(tx, query):
            edges.append(_edge(edge, row["a"], row["b"], row["r"]))
    return _graph(nodes, edges)


async def _counts(tx: neo4j.AsyncManagedTransaction) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in LABELS:
        rows = await _rows(tx, f"MATCH (n:{label}) RETURN count(n) AS n")
        counts[label] = rows[0]["n"]
    return counts


def _node(label: Label, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label,
        "key": str(properties[KEY_PROPERTY[label]]),
        "properties": _plain(properties),
    }


def _edge(edge: EdgeType, start: Any, end: Any, properties: dict[str, Any]) -> dict[str, Any]:
    first, second = EDGE_ENDS[edge]
    return {
        "type": edge,
        "from": f"{first}:{start}",
        "to": f"{second}:{end}",
        "properties": _plain(properties),
    }


def _plain(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        key: iso(value) if isinstance(value, datetime) else value
        for key, value in sorted(properties.items())
        if value is not None
    }


def _graph(nodes: Iterable[dict[str, Any]], edges: Iterable[dict[str, Any]]) -> GraphExport:
    return GraphExport(
        nodes=sorted(nodes, key=lambda n: (n["label"], n["key"])),
        edges=sorted(edges, key=lambda e: (e["type"], e["from"], e["to"])),
    )


# --- erase and load ---------------------------------------------------------------------


async def _erase(
    tx: neo4j.AsyncManagedTransaction, patient_id: int, conversation_ids: Sequence[str]
) -> int:
    bound = await _rows(
        tx,
        "MATCH (:Patient {id: $patient_id})-[:HAD]->(c:Conversation) RETURN c.id AS id",
        patient_id=patient_id,
    )
    listed = await _rows(
        tx,
        "MATCH (c:Conversation) WHERE c.id IN $ids RETURN c.id AS id",
        ids=list(conversation_ids),
    )
    conversations = sorted({row["id"] for row in bound + listed})
    messages = await _rows(
        tx,
        "MATCH (c:Conversation)-[:CONTAINS]->(m:Message) WHERE c.id IN $ids RETURN m.id AS id",
        ids=conversations,
    )
    message_ids = sorted({row["id"] for row in messages})
    outcomes = await _rows(
        tx,
        "MATCH (m:Message)-[:LED_TO]->(o:Outcome) WHERE m.id IN $ids RETURN o.id AS id",
        ids=message_ids,
    )
    outcome_ids = sorted({row["id"] for row in outcomes})
    patients = await _rows(
        tx, "MATCH (p:Patient {id: $patient_id}) RETURN p.id AS id", patient_id=patient_id
    )
    for label, ids in (
        ("Outcome", outcome_ids),
        ("Message", message_ids),
        ("Conversation", conversations),
        ("Patient", [patient_id] if patients else []),
    ):
        if ids:
            await _execute(tx, f"MATCH (n:{label}) WHERE n.id IN $ids DETACH DELETE n", ids=ids)
    return len(outcome_ids) + len(message_ids) + len(conversations) + len(patients)


Loadable = dict[str, list[dict[str, Any]]]


def _loadable(graph: GraphExport) -> tuple[Loadable, Loadable]:
    """A dump's nodes by label and edges by type, as stored; ValueError on anything that is
    not one (before anything is written)."""
    nodes: Loadable = {label: [] for label in LABELS}
    keys: dict[str, Any] = {}
    for node in graph.nodes:
        label = node.get("label")
        if label not in nodes:
            raise ValueError(f"unknown node label {label!r}")
        properties = _stored(node.get("properties"))
        key = properties.get(KEY_PROPERTY[label])
        if key is None or str(key) != node.get("key"):
            raise ValueError(f"a {label} node's key does not match its properties")
        nodes[label].append(properties)
        keys[f"{label}:{key}"] = key
    edges: Loadable = {edge: [] for edge in EDGE_TYPES}
    for edge in graph.edges:
        kind = edge.get("type")
        if kind not in edges:
            raise ValueError(f"unknown edge type {kind!r}")
        first, second = EDGE_ENDS[cast(EdgeType, kind)]
        start, end = str(edge.get("from")), str(edge.get("to"))
        if not start.startswith(f"{first}:") or not end.startswith(f"{second}:"):
            raise ValueError(f"a {kind} edge must go from a {first} to a {second}")
        if start not in keys or end not in keys:
            raise ValueError(f"a {kind} edge names a node the graph does not hold")
        edges[kind].append({"a": keys[start], "b": keys[end], "p": _stored(edge.get("properties"))})
    return nodes, edges


def _stored(properties: Any) -> dict[str, Any]:
    if not isinstance(properties, dict):
        raise ValueError("properties must be a JSON object")
    try:
        return {
            key: parse_iso(value) if key in TIME_PROPERTIES else value
            for key, value in properties.items()
            if value is not None
        }
    except (TypeError, ValueError) as error:
        raise ValueError(f"a time property is not an ISO 8601 time: {error}") from None


async def _load(tx: neo4j.AsyncManagedTransaction, nodes: Loadable, edges: Loadable) -> None:
    if sum((await _counts(tx)).values()):
        raise ValueError("a graph loads into an empty store only (clear it first)")
    for label in LABELS:
        if rows := nodes[label]:
            await _execute(tx, f"UNWIND $rows AS row CREATE (n:{label}) SET n = row", rows=rows)
    for edge in EDGE_TYPES:
        if rows := edges[edge]:
            start, end = EDGE_ENDS[edge]
            await _execute(
                tx,
                f"UNWIND $rows AS row "
                f"MATCH (a:{start} {{{KEY_PROPERTY[start]}: row.a}}) "
                f"MATCH (b:{end} {{{KEY_PROPERTY[end]}: row.b}}) "
                f"CREATE (a)-[r:{edge}]->(b) SET r = row.p",
                rows=rows,
            )
