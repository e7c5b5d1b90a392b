"""The memory graph on Neo4j over Bolt (`MEMORY_BACKEND=neo4j`): the same answers as the SQL
store, kept to Cypher simple enough for any Bolt server (tested on ArcadeDB's; docs/MEMORY.md
lists where it differs from Neo4j).

Every value travels as a query parameter; labels, edge types and property names are the
constants below. A turn's call is one managed transaction bounded by the store's timeout
(NEO4J_TIMEOUT_SECONDS). The operations on the whole graph (`clear`, `dump`, `load`, `erase`)
run as many transactions of at most BATCH nodes or edges each, every one bounded by
the longer bulk timeout, so a clinic's graph fits whatever its size; they are not atomic, and a
failed one is run again (`dental memory rebuild`, the restore). Any driver error becomes
`MemoryUnavailable` naming its class and code only: a driver's message can quote the
statement's values. Times are stored as native datetimes in UTC, to the microsecond.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
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
BATCH = 1000
"""Nodes or edges per transaction of a bulk operation."""
BULK_TIMEOUT_FACTOR = 10.0
"""A bulk operation's transactions may each take this many times the store's timeout."""
DELETE_ORDER: tuple[Label, ...] = (
    "Outcome",
    "Message",
    "Conversation",
    "Patient",
    "Pattern",
    "Doctor",
)
"""`clear` removes the nodes at the far ends last: by then a Pattern or Doctor shared by
thousands of messages has no edge left to remove with it."""
EDGES_BY_PAGE: dict[Label, tuple[EdgeType, ...]] = {
    "Conversation": ("HAD",),
    "Message": ("CONTAINS", "MATCHED"),
    "Outcome": ("LED_TO", "WITH", "RESOLVED_BY"),
}
"""`dump` reads each edge with the page of the node it is the only one of its type for (a
conversation has one patient, a message one conversation and one pattern, an outcome one
message and one doctor each way): a page's edges are as few as its nodes."""

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
MERGE (p)-[:HAD]->(c)
"""
_HAD_FROM_START = """
MATCH (:Patient)-[h:HAD]->(c:Conversation {id: $id}) SET h.at = c.started_at
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
    o.appointment_id = coalesce(row.appointment_id, o.appointment_id),
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
    by `close`. `bulk_timeout` bounds each transaction of the bulk operations (default
    BULK_TIMEOUT_FACTOR times `timeout`), `batch` their size."""

    kind = "neo4j"

    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        *,
        database: str,
        timeout: float = 5.0,
        bulk_timeout: float | None = None,
        batch: int = BATCH,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        _neo4j_quiet()
        self._driver = driver
        self._database = database
        self._timeout = timeout
        self._bulk_timeout = BULK_TIMEOUT_FACTOR * timeout if bulk_timeout is None else bulk_timeout
        self._batch = batch
        self._prepared = False
        self._preparing = asyncio.Lock()

    async def prepare(self) -> None:
        # One transaction each: Neo4j does not mix a schema change with other work in one.
        for statement in _SCHEMA:
            await self._write("prepare", _run_statement(statement))
        self._prepared = True

    async def _prepare_before_writing(self) -> None:
        """Create the constraints before this store's first write when `prepare` has not
        succeeded yet (the server was out of reach when the app started): without them,
        concurrent turns could MERGE the same node twice. Tried once per write until it
        succeeds, one caller at a time."""
        if self._prepared:
            return
        async with self._preparing:
            if not self._prepared:
                await self.prepare()

    async def record(self, facts: TurnFacts) -> None:
        check_facts(facts)
        await self._prepare_before_writing()
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
        """The patient's nodes are found in one transaction, then removed leaves first
        (outcomes, messages, conversations, the patient) a batch at a time: an erasure cut
        short is finished by running it again."""
        found = await self._read(
            "erase",
            lambda tx: _erasable(tx, patient_id, conversation_ids),
            bulk=True,
        )
        removed = 0
        for label, ids in found:
            for chunk in _chunks(ids, self._batch):
                removed += await self._write(
                    "erase",
                    functools.partial(_delete_by_id, label=label, ids=chunk),
                    bulk=True,
                )
        return removed

    async def clear(self) -> None:
        for label in (*DELETE_ORDER, None):  # None: anything else the database holds
            remove = functools.partial(_delete_some, label=label, limit=self._batch)
            while await self._write("clear", remove, bulk=True) == self._batch:
                pass

    async def dump(self) -> GraphExport:
        """The graph read a page of nodes (with their edges, EDGES_BY_PAGE) at a time, each
        page one transaction; what turns wrote meanwhile may be half in it, so edges to nodes
        it did not read, and messages or outcomes it read without their conversation or
        message, are left out (`_whole`)."""
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        for label in LABELS:
            after: Any = None
            while True:
                page = functools.partial(_dump_page, label=label, after=after, limit=self._batch)
                found, linked = await self._read("dump", page, bulk=True)
                nodes += found
                edges += linked
                if len(found) < self._batch:
                    break
                after = found[-1]["properties"][KEY_PROPERTY[label]]
        return _whole(nodes, edges)

    async def load(self, graph: GraphExport) -> None:
        """Write a dump into an empty store, a batch of nodes or edges per transaction
        (ValueError, and nothing written, when the store holds anything or the dump is not a
        memory graph). A load cut short leaves part of the graph: clear and load again."""
        nodes, edges = _loadable(graph)
        await self._prepare_before_writing()
        if sum((await self.counts()).values()):
            raise ValueError("a graph loads into an empty store only (clear it first)")
        for label in LABELS:
            for chunk in _chunks(nodes[label], self._batch):
                await self._write(
                    "load",
                    functools.partial(_create_nodes, label=label, rows=chunk),
                    bulk=True,
                )
        for edge in EDGE_TYPES:
            for chunk in _chunks(edges[edge], self._batch):
                await self._write(
                    "load",
                    functools.partial(_create_edges, edge=edge, rows=chunk),
                    bulk=True,
                )

    async def counts(self) -> dict[str, int]:
        return await self._read("counts", _counts)

    async def close(self) -> None:
        await self._driver.close()

    async def _read(self, what: str, work: Work[T], *, bulk: bool = False) -> T:
        return await self._transaction(what, work, write=False, bulk=bulk)

    async def _write(
        self,
        what: str,
        work: Work[T],
        *,
        merge_races: bool = False,
        bulk: bool = False,
    ) -> T:
        return await self._transaction(what, work, write=True, merge_races=merge_races, bulk=bulk)

    async def _transaction(
        self,
        what: str,
        work: Work[T],
        *,
        write: bool,
        merge_races: bool = False,
        bulk: bool = False,
    ) -> T:
        """`work` in one managed transaction within the store's timeout (`bulk`: the bulk
        timeout). With `merge_races`, a uniqueness refusal is tried again: two turns
        MERGE-ing the same new node at once is safe on Neo4j (MERGE locks) but on ArcadeDB the
        later commit is refused instead; run again, its MERGE finds the node."""
        limit = self._bulk_timeout if bulk else self._timeout
        bounded = neo4j.unit_of_work(timeout=limit)(work)
        attempts = MERGE_RACE_ATTEMPTS if merge_races else 1
        try:
            async with asyncio.timeout(limit):
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
                f"neo4j {what} failed: {type(error).__name__} (limit {limit:g}s)"
            ) from error


_SCHEMA = [
    f"CREATE CONSTRAINT {label.lower()}_{key} IF NOT EXISTS "
    f"FOR (n:{label}) REQUIRE n.{key} IS UNIQUE"
    for label, key in KEY_PROPERTY.items()
] + [
    f"CREATE INDEX {label.lower()}_{key} IF NOT EXISTS FOR (n:{label}) ON (n.{key})"
    for label, key in INDEXES
]
"""What `prepare` creates: a uniqueness constraint per node key, and the indexes reads use."""


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


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
    times = [_utc(facts.at)] + [_utc(m.at) for m in facts.messages]
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
        await _execute(tx, _BIND_PATIENT, **bind)
    # Bound now or before, the HAD edge follows the start (which earlier facts may move).
    await _execute(tx, _HAD_FROM_START, id=facts.conversation_id)
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
        "appointment_id": outcome.appointment_id,
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
        appointment_id=node.get("appointment_id"),
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


async def _dump_page(
    tx: neo4j.AsyncManagedTransaction, *, label: Label, after: Any, limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Up to `limit` nodes of `label` with keys after `after` (None: from the first), in key
    order, and their EDGES_BY_PAGE edges."""
    key = KEY_PROPERTY[label]
    where = "" if after is None else f" WHERE n.{key} > $after"
    found = await _rows(
        tx,
        f"MATCH (n:{label}){where} RETURN n.{key} AS k, properties(n) AS n ORDER BY k LIMIT $limit",
        after=after,
        limit=limit,
    )
    nodes = [_node(label, row["n"]) for row in found]
    keys = [row["k"] for row in found]
    edges = []
    for edge in EDGES_BY_PAGE.get(label, ()) if keys else ():
        start, end = EDGE_ENDS[edge]
        paged = f"(b:{end})" if end == label else f"(a:{start})"
        query = (
            f"MATCH {paged} WHERE {paged[1]}.{key} IN $keys "
            f"MATCH (a:{start})-[r:{edge}]->(b:{end}) "
            f"RETURN a.{KEY_PROPERTY[start]} AS a, b.{KEY_PROPERTY[end]} AS b, "
            "properties(r) AS r"
        )
        for row in await _rows(tx, query, keys=keys):
            edges.append(_edge(edge, row["a"], row["b"], row["r"]))
    return nodes, edges


def _whole(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> GraphExport:
    """A dump read page by page without what was written while it was read and is not whole
    in it: an edge to a node it did not read, a message without its conversation, an outcome
    without its message (`dental memory rebuild` or the next dump has them)."""
    while True:
        held = {f"{n['label']}:{n['key']}" for n in nodes}
        edges = [e for e in edges if e["from"] in held and e["to"] in held]
        attached = {e["to"] for e in edges if e["type"] in ("CONTAINS", "LED_TO")}
        kept = [
            n
            for n in nodes
            if n["label"] not in ("Message", "Outcome") or f"{n['label']}:{n['key']}" in attached
        ]
        if len(kept) == len(nodes):
            return _graph(nodes, edges)
        nodes = kept


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


async def _erasable(
    tx: neo4j.AsyncManagedTransaction, patient_id: int, conversation_ids: Sequence[str]
) -> list[tuple[Label, list[Any]]]:
    """What erasing the patient removes, by label, in the order to remove it: outcomes,
    messages, conversations (theirs, and `conversation_ids`), the patient."""
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
    patients = await _rows(
        tx, "MATCH (p:Patient {id: $patient_id}) RETURN p.id AS id", patient_id=patient_id
    )
    return [
        ("Outcome", sorted({row["id"] for row in outcomes})),
        ("Message", message_ids),
        ("Conversation", conversations),
        ("Patient", [row["id"] for row in patients]),
    ]


async def _delete_by_id(
    tx: neo4j.AsyncManagedTransaction, *, label: Label, ids: Sequence[Any]
) -> int:
    rows = await _rows(
        tx,
        f"MATCH (n:{label}) WHERE n.{KEY_PROPERTY[label]} IN $ids "
        "DETACH DELETE n RETURN count(*) AS n",
        ids=list(ids),
    )
    return int(rows[0]["n"])


async def _delete_some(
    tx: neo4j.AsyncManagedTransaction, *, label: Label | None, limit: int
) -> int:
    """Remove up to `limit` nodes of `label` (None: of any label) and their edges."""
    node = "n" if label is None else f"n:{label}"
    rows = await _rows(
        tx, f"MATCH ({node}) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS n", limit=limit
    )
    return int(rows[0]["n"])


Loadable = dict[str, list[dict[str, Any]]]


def _loadable(graph: GraphExport) -> tuple[Loadable, Loadable]:
    """A dump's nodes by label and edges by type, as stored; ValueError on anything that is
    not one (before anything is written)."""
    nodes: Loadable = {label: [] for label in LABELS}
    keys: dict[str, Any] = {}
    started: dict[str, datetime | None] = {}
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
        if label == "Conversation":
            started[f"{label}:{key}"] = properties.get("started_at")
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
        properties = _stored(edge.get("properties"))
        if kind == "HAD":  # dated by its conversation's start, as `record` dates it
            at = started[end]
            properties = {} if at is None else {"at": at}
        edges[kind].append({"a": keys[start], "b": keys[end], "p": properties})
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


async def _create_nodes(
    tx: neo4j.AsyncManagedTransaction, *, label: Label, rows: Sequence[dict[str, Any]]
) -> None:
    await _execute(tx, f"UNWIND $rows AS row CREATE (n:{label}) SET n = row", rows=list(rows))


async def _create_edges(
    tx: neo4j.AsyncManagedTransaction, *, edge: EdgeType, rows: Sequence[dict[str, Any]]
) -> None:
    start, end = EDGE_ENDS[edge]
    await _execute(
        tx,
        f"UNWIND $rows AS row "
        f"MATCH (a:{start} {{{KEY_PROPERTY[start]}: row.a}}) "
        f"MATCH (b:{end} {{{KEY_PROPERTY[end]}: row.b}}) "
        f"CREATE (a)-[r:{edge}]->(b) SET r = row.p",
        rows=list(rows),
    )
