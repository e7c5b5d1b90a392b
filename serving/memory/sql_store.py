"""`SqlMemoryStore`: the memory graph as tables of the app database (`MEMORY_BACKEND=sql`,
serving/db/memory_models.py), on SQLite and PostgreSQL alike.

The semantics every store is held to (tests/test_memory_contract.py):

- `record` is an upsert by id: the same facts twice leave the same graph. A conversation's
  `started_at` is the earliest time seen, `last_at` the latest, and its language that of the
  newest facts. When the facts name a patient, the Patient and its HAD exist (HAD `at`: the
  conversation's `started_at`, whichever turn named the patient); a conversation bound to
  another patient moves its HAD (one patient per conversation); facts without a patient leave
  the binding as it was.
- An outcome already recorded keeps its LED_TO and takes any visit (`visit_at`, provider,
  `appointment_id`) and resolution (`resolved_at`, `resolved_by`) the new facts give. A new
  outcome needs the id of a message of this conversation (in the facts or recorded before):
  otherwise `ValueError` and nothing of the facts is written.
- `history`: conversations newest first by `last_at` (then id), at most `limit`; the outcomes
  of those conversations newest first by `at` (then id), at most `limit`; `patterns`: the
  patient's own (role patient) messages per pattern, over all their conversations.
- `pattern_outcomes`: per pattern, the conversations in which a patient message at or after
  `since` matched it; `booked` and `escalated` count those with a visit booked or moved, or an
  escalation, at or after the first such match; `dropped` those with no outcome at all at or
  after it and a `last_at` before `idle_before`.
- `export`, `dump`: nodes sorted by (label, key), edges by (type, from, to); properties as in
  serving/memory/records.py, times via `iso`, None left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from serving.db.engine import Database
from serving.db.memory_models import (
    MemoryConversation,
    MemoryDoctor,
    MemoryMessage,
    MemoryOutcome,
    MemoryPatient,
    MemoryPattern,
)
from serving.memory.records import (
    LABELS,
    VISIT_KINDS,
    ConversationSummary,
    GraphExport,
    Label,
    OutcomeFacts,
    OutcomeKind,
    PatientHistory,
    PatternOutcomes,
    TurnFacts,
    check_facts,
    dentist_doctor_key,
    iso,
    parse_iso,
    provider_doctor_key,
    provider_of_doctor_key,
)

patients = cast(Table, MemoryPatient.__table__)
conversations = cast(Table, MemoryConversation.__table__)
messages = cast(Table, MemoryMessage.__table__)
patterns = cast(Table, MemoryPattern.__table__)
outcomes = cast(Table, MemoryOutcome.__table__)
doctors = cast(Table, MemoryDoctor.__table__)
TABLES: dict[Label, Table] = {
    "Patient": patients,
    "Conversation": conversations,
    "Message": messages,
    "Pattern": patterns,
    "Outcome": outcomes,
    "Doctor": doctors,
}
DELETE_ORDER = (outcomes, messages, doctors, patterns, conversations, patients)
"""Rows referred to go after the rows referring to them."""


class SqlMemoryStore:
    kind = "sql"

    def __init__(self, database: Database) -> None:
        self._database = database

    async def prepare(self) -> None:
        """Nothing to create: the tables come with the app database's migrations (0016)."""

    async def record(self, facts: TurnFacts) -> None:
        check_facts(facts)
        async with self._database.transaction() as session:
            known = await self._outcome_messages(session, [o.id for o in facts.outcomes])
            await self._check_new_outcomes(session, facts, known)
            await self._write_conversation(session, facts)
            await self._write_messages(session, facts)
            await self._write_outcomes(session, facts, known)

    async def _outcome_messages(self, session: AsyncSession, ids: list[str]) -> dict[str, int]:
        """The recorded outcomes among `ids`, with the message each LED_TO from."""
        if not ids:
            return {}
        rows = await session.execute(
            select(outcomes.c.id, outcomes.c.message_id).where(outcomes.c.id.in_(ids))
        )
        return {row.id: row.message_id for row in rows}

    async def _check_new_outcomes(
        self, session: AsyncSession, facts: TurnFacts, known: dict[str, int]
    ) -> None:
        wanted = {o.message_id for o in facts.outcomes if o.id not in known}
        if None in wanted:
            raise ValueError("a new outcome needs the message that led to it")
        missing = cast(set[int], wanted) - {m.id for m in facts.messages}
        if missing:
            found = await session.scalars(
                select(messages.c.id).where(
                    messages.c.id.in_(missing),
                    messages.c.conversation_id == facts.conversation_id,
                )
            )
            if missing - set(found):
                raise ValueError("an outcome's message is not a message of its conversation")

    async def _write_conversation(self, session: AsyncSession, facts: TurnFacts) -> None:
        times = [facts.at, *(m.at for m in facts.messages)]
        bound = facts.patient_id is not None
        if bound:
            insert = self._database.insert(patients).on_conflict_do_nothing()
            await session.execute(insert, [{"id": facts.patient_id}])
        insert = self._database.insert(conversations)
        new = insert.excluded
        updates: dict[str, Any] = {
            "channel": new.channel,
            "language": case(
                (new.last_at >= conversations.c.last_at, new.language),
                else_=conversations.c.language,
            ),
            "started_at": _earlier(new.started_at, conversations.c.started_at),
            "last_at": case(
                (new.last_at > conversations.c.last_at, new.last_at),
                else_=conversations.c.last_at,
            ),
        }
        if bound:
            updates["patient_id"] = new.patient_id
        row = {
            "id": facts.conversation_id,
            "patient_id": facts.patient_id,
            "channel": facts.channel,
            "language": facts.language,
            "started_at": min(times),
            "last_at": max(times),
        }
        await session.execute(
            insert.on_conflict_do_update(index_elements=["id"], set_=updates), [row]
        )

    async def _write_messages(self, session: AsyncSession, facts: TurnFacts) -> None:
        if not facts.messages:
            return
        names = sorted({m.pattern for m in facts.messages if m.pattern})
        if names:
            insert = self._database.insert(patterns).on_conflict_do_nothing()
            await session.execute(insert, [{"name": name} for name in names])
        rows = {
            m.id: {
                "id": m.id,
                "conversation_id": facts.conversation_id,
                "role": m.role,
                "at": m.at,
                "language": m.language,
                "pattern": m.pattern or None,
                "intent": m.intent,
                "urgency": m.urgency,
            }
            for m in facts.messages
        }
        insert = self._database.insert(messages)
        updates = {c.name: insert.excluded[c.name] for c in messages.c if c.name != "id"}
        await session.execute(
            insert.on_conflict_do_update(index_elements=["id"], set_=updates),
            list(rows.values()),
        )

    async def _write_outcomes(
        self, session: AsyncSession, facts: TurnFacts, known: dict[str, int]
    ) -> None:
        if not facts.outcomes:
            return
        names: dict[str, str | None] = {}
        rows: dict[str, dict[str, Any]] = {}
        for o in facts.outcomes:
            with_doctor = resolved_by = None
            if o.provider_id is not None:
                with_doctor = provider_doctor_key(o.provider_id)
                names[with_doctor] = o.provider_name or names.get(with_doctor)
            if o.resolved_by:
                resolved_by = dentist_doctor_key(o.resolved_by)
                names[resolved_by] = o.resolved_by
            rows[o.id] = {
                "id": o.id,
                "message_id": known.get(o.id, o.message_id),
                "kind": o.kind,
                "at": o.at,
                "visit_at": o.visit_at,
                "appointment_id": o.appointment_id,
                "escalation_id": o.escalation_id,
                "resolved_at": o.resolved_at,
                "with_doctor": with_doctor,
                "resolved_by_doctor": resolved_by,
            }
        if names:
            insert = self._database.insert(doctors)
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"name": func.coalesce(insert.excluded.name, doctors.c.name)},
                ),
                [{"key": key, "name": name} for key, name in names.items()],
            )
        insert = self._database.insert(outcomes)
        kept = ("visit_at", "appointment_id", "resolved_at", "with_doctor", "resolved_by_doctor")
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["id"],
                set_={c: func.coalesce(insert.excluded[c], outcomes.c[c]) for c in kept},
            ),
            list(rows.values()),
        )

    async def history(self, patient_id: int, *, limit: int = 50) -> PatientHistory:
        async with self._database.read() as session:
            rows = (
                await session.execute(
                    select(conversations)
                    .where(conversations.c.patient_id == patient_id)
                    .order_by(conversations.c.last_at.desc(), conversations.c.id)
                    .limit(limit)
                )
            ).all()
            ids = [row.id for row in rows]
            outcome_rows = await _outcome_rows(
                session, messages.c.conversation_id.in_(ids), limit=limit
            )
            counts = await session.execute(
                select(messages.c.pattern, func.count())
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .where(
                    conversations.c.patient_id == patient_id,
                    messages.c.role == "patient",
                    messages.c.pattern.is_not(None),
                )
                .group_by(messages.c.pattern)
            )
            pattern_counts = {str(name): int(n) for name, n in counts}
        return PatientHistory(
            patient_id=patient_id,
            conversations=tuple(
                ConversationSummary(
                    id=row.id,
                    channel=row.channel,
                    language=row.language,
                    started_at=row.started_at,
                    last_at=row.last_at,
                )
                for row in rows
            ),
            outcomes=tuple(_outcome_facts(row) for row in outcome_rows),
            patterns=dict(sorted(pattern_counts.items())),
        )

    async def pattern_outcomes(
        self, *, since: datetime, idle_before: datetime
    ) -> list[PatternOutcomes]:
        first = (
            select(
                messages.c.pattern,
                messages.c.conversation_id,
                func.min(messages.c.at).label("first_at"),
            )
            .where(
                messages.c.role == "patient",
                messages.c.pattern.is_not(None),
                messages.c.at >= since,
            )
            .group_by(messages.c.pattern, messages.c.conversation_id)
            .subquery()
        )

        def outcome_after(*kinds: OutcomeKind) -> ColumnElement[bool]:
            led_from = messages.alias()
            condition = and_(
                outcomes.c.message_id == led_from.c.id,
                led_from.c.conversation_id == first.c.conversation_id,
                outcomes.c.at >= first.c.first_at,
            )
            if kinds:
                condition = and_(condition, outcomes.c.kind.in_(kinds))
            return exists().where(condition)

        def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return case((condition, literal(1)), else_=literal(0))

        per_conversation = (
            select(
                first.c.pattern,
                flag(outcome_after(*sorted(VISIT_KINDS))).label("booked"),
                flag(outcome_after("escalated")).label("escalated"),
                flag(and_(~outcome_after(), conversations.c.last_at < idle_before)).label(
                    "dropped"
                ),
            )
            .join(conversations, conversations.c.id == first.c.conversation_id)
            .subquery()
        )
        query = select(
            per_conversation.c.pattern,
            func.count(),
            func.sum(per_conversation.c.booked),
            func.sum(per_conversation.c.escalated),
            func.sum(per_conversation.c.dropped),
        ).group_by(per_conversation.c.pattern)
        async with self._database.read() as session:
            rows = (await session.execute(query)).all()
        return sorted(
            (
                PatternOutcomes(
                    pattern=str(name),
                    conversations=int(n),
                    booked=int(booked),
                    escalated=int(escalated),
                    dropped=int(dropped),
                )
                for name, n, booked, escalated, dropped in rows
            ),
            key=lambda p: p.pattern,
        )

    async def export(self, patient_id: int) -> GraphExport:
        async with self._database.read() as session:
            patient = await session.scalar(select(patients.c.id).where(patients.c.id == patient_id))
            if patient is None:
                return GraphExport()
            theirs = conversations.c.patient_id == patient_id
            conversation_rows = (await session.execute(select(conversations).where(theirs))).all()
            ids = select(conversations.c.id).where(theirs)
            in_theirs = messages.c.conversation_id.in_(ids)
            message_rows = (await session.execute(select(messages).where(in_theirs))).all()
            outcome_rows = await _outcome_rows(session, in_theirs)
            keys = {k for row in outcome_rows for k in (row.with_doctor, row.resolved_by_doctor)}
            doctor_rows = (
                await session.execute(select(doctors).where(doctors.c.key.in_(keys - {None})))
            ).all()
        return _graph(
            patient_rows=[patient],
            conversation_rows=conversation_rows,
            message_rows=message_rows,
            pattern_names={row.pattern for row in message_rows if row.pattern},
            outcome_rows=outcome_rows,
            doctor_rows=doctor_rows,
        )

    async def erase(self, patient_id: int, conversation_ids: Sequence[str] = ()) -> int:
        chosen = or_(
            conversations.c.patient_id == patient_id,
            conversations.c.id.in_(list(conversation_ids)),
        )
        ids = select(conversations.c.id).where(chosen)
        in_chosen = messages.c.conversation_id.in_(ids)
        statements = (
            delete(outcomes).where(
                outcomes.c.message_id.in_(select(messages.c.id).where(in_chosen))
            ),
            delete(messages).where(in_chosen),
            delete(conversations).where(chosen),
            delete(patients).where(patients.c.id == patient_id),
        )
        removed = 0
        async with self._database.transaction() as session:
            for statement in statements:
                result = cast(CursorResult[Any], await session.execute(statement))
                removed += result.rowcount
        return removed

    async def clear(self) -> None:
        async with self._database.transaction() as session:
            for table in DELETE_ORDER:
                await session.execute(delete(table))

    async def dump(self) -> GraphExport:
        async with self._database.read() as session:
            return _graph(
                patient_rows=list(await session.scalars(select(patients.c.id))),
                conversation_rows=(await session.execute(select(conversations))).all(),
                message_rows=(await session.execute(select(messages))).all(),
                pattern_names=set(await session.scalars(select(patterns.c.name))),
                outcome_rows=await _outcome_rows(session, true()),
                doctor_rows=(await session.execute(select(doctors))).all(),
            )

    async def load(self, graph: GraphExport) -> None:
        """Write a dump into an empty store (ValueError, and nothing written, when the store
        holds anything or the dump is not a memory graph)."""
        rows = _rows_of(graph)
        async with self._database.transaction() as session:
            for table in TABLES.values():
                if await session.scalar(select(literal(1)).select_from(table).limit(1)):
                    raise ValueError("a dump loads into an empty memory store: clear it first")
            for table in reversed(DELETE_ORDER):
                if rows[table.name]:
                    await session.execute(table.insert(), rows[table.name])

    async def counts(self) -> dict[str, int]:
        async with self._database.read() as session:
            return {
                label: int(await session.scalar(select(func.count()).select_from(table)) or 0)
                for label, table in TABLES.items()
            }

    async def close(self) -> None:
        """Nothing of its own to close: the app database belongs to the app."""


def _earlier(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    """The earlier of two times, the new one when the old is NULL (LEAST and MIN(a, b) are
    not spelt alike on PostgreSQL and SQLite)."""
    return case((or_(old.is_(None), new < old), new), else_=old)


async def _outcome_rows(
    session: AsyncSession, where: ColumnElement[bool], *, limit: int | None = None
) -> list[Row[Any]]:
    """Outcomes of the messages `where` picks, newest first, with their doctors' names."""
    provider = doctors.alias("provider")
    dentist = doctors.alias("dentist")
    query = (
        select(
            outcomes,
            provider.c.name.label("provider_name"),
            dentist.c.name.label("resolved_by_name"),
        )
        .join(messages, messages.c.id == outcomes.c.message_id)
        .outerjoin(provider, provider.c.key == outcomes.c.with_doctor)
        .outerjoin(dentist, dentist.c.key == outcomes.c.resolved_by_doctor)
        .where(where)
        .order_by(outcomes.c.at.desc(), outcomes.c.id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


def _outcome_facts(row: Row[Any]) -> OutcomeFacts:
    return OutcomeFacts(
        id=row.id,
        kind=row.kind,
        at=row.at,
        message_id=row.message_id,
        provider_id=provider_of_doctor_key(row.with_doctor) if row.with_doctor else None,
        provider_name=row.provider_name if row.with_doctor else None,
        visit_at=row.visit_at,
        appointment_id=row.appointment_id,
        escalation_id=row.escalation_id,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by_name if row.resolved_by_doctor else None,
    )


def _graph(
    *,
    patient_rows: Iterable[int],
    conversation_rows: Iterable[Row[Any]],
    message_rows: Iterable[Row[Any]],
    pattern_names: Iterable[str],
    outcome_rows: Iterable[Row[Any]],
    doctor_rows: Iterable[Row[Any]],
) -> GraphExport:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []

    def node(label: Label, key: str | int, /, **properties: Any) -> None:
        nodes.append({"label": label, "key": str(key), "properties": _present(properties)})

    def edge(kind: str, start: str, end: str, at: datetime | None = None) -> None:
        edges.append({"type": kind, "from": start, "to": end, "properties": _present({"at": at})})

    for patient_id in patient_rows:
        node("Patient", patient_id, id=patient_id)
    for c in conversation_rows:
        node(
            "Conversation",
            c.id,
            id=c.id,
            channel=c.channel,
            language=c.language,
            started_at=c.started_at,
            last_at=c.last_at,
        )
        if c.patient_id is not None:
            edge("HAD", f"Patient:{c.patient_id}", f"Conversation:{c.id}", c.started_at)
    for m in message_rows:
        node(
            "Message",
            m.id,
            id=m.id,
            role=m.role,
            at=m.at,
            intent=m.intent,
            urgency=m.urgency,
            language=m.language,
        )
        edge("CONTAINS", f"Conversation:{m.conversation_id}", f"Message:{m.id}", m.at)
        if m.pattern:
            edge("MATCHED", f"Message:{m.id}", f"Pattern:{m.pattern}", m.at)
    for name in pattern_names:
        node("Pattern", name, name=name)
    for o in outcome_rows:
        node(
            "Outcome",
            o.id,
            id=o.id,
            kind=o.kind,
            at=o.at,
            visit_at=o.visit_at,
            appointment_id=o.appointment_id,
            escalation_id=o.escalation_id,
            resolved_at=o.resolved_at,
        )
        edge("LED_TO", f"Message:{o.message_id}", f"Outcome:{o.id}", o.at)
        if o.with_doctor:
            edge("WITH", f"Outcome:{o.id}", f"Doctor:{o.with_doctor}")
        if o.resolved_by_doctor:
            edge("RESOLVED_BY", f"Outcome:{o.id}", f"Doctor:{o.resolved_by_doctor}", o.resolved_at)
    for d in doctor_rows:
        node("Doctor", d.key, key=d.key, name=d.name)
    nodes.sort(key=lambda n: (n["label"], n["key"]))
    edges.sort(key=lambda e: (e["type"], e["from"], e["to"]))
    return GraphExport(nodes=nodes, edges=edges)


def _present(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties as exported: None left out, times as `iso` strings."""
    return {
        name: iso(value) if isinstance(value, datetime) else value
        for name, value in properties.items()
        if value is not None
    }


def _rows_of(graph: GraphExport) -> dict[str, list[dict[str, Any]]]:
    """A dump's nodes and edges as rows per table; ValueError when it is not a memory graph."""
    try:
        return _parse(graph)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a memory graph dump ({type(error).__name__})") from None


def _parse(graph: GraphExport) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in LABELS}
    for n in graph.nodes:
        p = n["properties"]
        label, key = n["label"], str(n["key"])
        if label == "Patient":
            row: dict[str, Any] = {"id": int(p["id"])}
        elif label == "Conversation":
            row = {
                "id": p["id"],
                "patient_id": None,
                "channel": p["channel"],
                "language": p["language"],
                "started_at": parse_iso(p["started_at"]),
                "last_at": parse_iso(p["last_at"]),
            }
        elif label == "Message":
            row = {
                "id": int(p["id"]),
                "conversation_id": None,
                "role": p["role"],
                "at": parse_iso(p["at"]),
                "language": p["language"],
                "pattern": None,
                "intent": p.get("intent"),
                "urgency": p.get("urgency"),
            }
        elif label == "Pattern":
            row = {"name": p["name"]}
        elif label == "Outcome":
            row = {
                "id": p["id"],
                "message_id": None,
                "kind": p["kind"],
                "at": parse_iso(p["at"]),
                "visit_at": _time(p.get("visit_at")),
                "appointment_id": p.get("appointment_id"),
                "escalation_id": p.get("escalation_id"),
                "resolved_at": _time(p.get("resolved_at")),
                "with_doctor": None,
                "resolved_by_doctor": None,
            }
        elif label == "Doctor":
            row = {"key": p["key"], "name": p.get("name")}
        else:
            raise ValueError(label)
        found[label][key] = row
    for e in graph.edges:
        start_label, _, start = str(e["from"]).partition(":")
        end_label, _, end = str(e["to"]).partition(":")
        # An edge's time is its nodes' own (HAD: the conversation's start), yet it must be one.
        _time(e["properties"].get("at"))
        # Both ends must be nodes of the dump: a KeyError otherwise.
        source, target = found[start_label][start], found[end_label][end]
        kind = (e["type"], start_label, end_label)
        if kind == ("HAD", "Patient", "Conversation"):
            target["patient_id"] = source["id"]
        elif kind == ("CONTAINS", "Conversation", "Message"):
            target["conversation_id"] = source["id"]
        elif kind == ("MATCHED", "Message", "Pattern"):
            source["pattern"] = target["name"]
        elif kind == ("LED_TO", "Message", "Outcome"):
            target["message_id"] = source["id"]
        elif kind == ("WITH", "Outcome", "Doctor"):
            source["with_doctor"] = target["key"]
        elif kind == ("RESOLVED_BY", "Outcome", "Doctor"):
            source["resolved_by_doctor"] = target["key"]
        else:
            raise ValueError(e["type"])
    unattached = any(r["conversation_id"] is None for r in found["Message"].values()) or any(
        r["message_id"] is None for r in found["Outcome"].values()
    )
    if unattached:
        raise ValueError("a message without its conversation or an outcome without its message")
    return {TABLES[label].name: list(found[label].values()) for label in LABELS}


def _time(text: str | None) -> datetime | None:
    return parse_iso(text) if text is not None else None
