"""A patient with something of theirs in every place the assistant keeps data, and the checks
that find what is left of them, read from the tables themselves (not through the code under
test).

- `seed_patient`: a web conversation and a Telegram conversation bound to the patient, their
  messages (a reply with the escalation it opened), guard events, the escalation with its
  transcript, notices and a doctor link, the Telegram chat's raw updates, a delivery failure
  and its lease, a web identity code, a patient link, and the same conversations' facts in the
  memory store.
- `app_rows_of`: every row of any app table that names the patient, their conversations,
  escalations, chats or web visitors (each table with such a column is scanned, so a table
  added later is checked too).
- `memory_nodes_reader(store, ...)`: reads the patient's nodes from the store itself: the SQL
  store's tables, or Cypher over Bolt on the test's own driver for the Neo4j store.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import neo4j
from sqlalchemy import Table, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import DoctorLink, EscalationNotification
from serving.db.identity_models import WebIdentityCode
from serving.db.privacy_models import PatientLink
from serving.db.telegram_models import TelegramChat, TelegramDeliveryFailure, TelegramUpdate
from serving.db.types import utcnow
from serving.memory.store import MemoryStore
from serving.memory.turn_outcomes import conversation_facts, escalation
from tests.bolt_server import BoltServer, bolt_driver

KEPT_TABLES = frozenset({"audit_events", "erasure_receipts"})
"""Kept on purpose, ids and counts only (docs/PRIVACY.md)."""
PRACTICE_TABLES = frozenset(
    {
        "patients",
        "patient_allergies",
        "patient_notes",
        "treatment_plans",
        "appointments",
        "invoices",
    }
)
"""The built-in practice system's record: the clinic's, kept by law, not the assistant's."""


@dataclass(frozen=True)
class Seeded:
    patient_id: int
    conversation_ids: tuple[str, str]
    escalation_id: str
    telegram_chat_id: int
    web_visitor: str
    texts: tuple[str, ...]
    """Words of theirs that only their own data holds."""
    transcript: str
    telegram_update_id: int


async def seed_patient(
    database: Database, store: MemoryStore, patient_id: int, *, telegram_chat_id: int
) -> Seeded:
    tag = secrets.token_hex(4)
    web_id, telegram_id = f"web{tag}", f"tg{tag}"
    visitor = f"web-{secrets.token_hex(16)}"
    escalation_id = f"esc{tag}"
    now = utcnow() - timedelta(hours=2)
    web_text = f"my crown feels loose {tag}"
    telegram_text = f"can I come on Tuesday {tag}"
    transcript = f"Patient: my crown feels loose {tag}\nDr. Levi: come in tomorrow"
    update_id = 5_000_000 + telegram_chat_id
    async with database.transaction() as session:
        session.add_all(
            [
                db.Conversation(
                    id=web_id,
                    channel="web",
                    external_user_id=visitor,
                    patient_id=patient_id,
                    language="en",
                    created_at=now,
                    updated_at=now,
                ),
                db.Conversation(
                    id=telegram_id,
                    channel="telegram",
                    external_user_id=str(telegram_chat_id),
                    patient_id=patient_id,
                    language="he",
                    created_at=now,
                    updated_at=now,
                ),
            ]
        )
        await session.flush()
        asked = db.Message(
            conversation_id=web_id,
            patient_id=patient_id,  # as the app writes them: whose each row is
            role="patient",
            text=web_text,
            language="en",
            intent="medical_question",
            urgency="DOCTOR_REQUIRED",
            memory_pattern="doctor_question",
            created_at=now,
        )
        session.add(asked)
        await session.flush()
        session.add_all(
            [
                db.Message(
                    conversation_id=web_id,
                    patient_id=patient_id,
                    role="assistant",
                    text="A dentist will get back to you.",
                    language="en",
                    outcomes=[escalation(escalation_id)],
                    created_at=now + timedelta(seconds=1),
                ),
                db.Message(
                    conversation_id=telegram_id,
                    patient_id=patient_id,
                    role="patient",
                    text=telegram_text,
                    language="he",
                    intent="book_appointment",
                    urgency="ROUTINE",
                    memory_pattern="booking",
                    created_at=now,
                ),
                db.GuardEvent(conversation_id=web_id, kind="input_injection", reasons="r"),
                db.Escalation(
                    id=escalation_id,
                    conversation_id=web_id,
                    patient_id=patient_id,
                    urgency="DOCTOR_REQUIRED",
                    summary=web_text,
                    last_summary=web_text,
                    transcript=transcript,
                    status="closed",
                    doctor_name="Dr. Levi",
                    created_at=now,
                    closed_at=now + timedelta(minutes=30),
                ),
            ]
        )
        await session.flush()
        session.add_all(
            [
                EscalationNotification(
                    escalation_id=escalation_id,
                    channel="sms",
                    urgency="DOCTOR_REQUIRED",
                    round=1,
                    status="sent",
                    attempts=1,
                ),
                DoctorLink(
                    escalation_id=escalation_id,
                    token_hash=secrets.token_hex(32),
                    expires_at=now + timedelta(hours=24),
                ),
                TelegramUpdate(
                    update_id=update_id,
                    chat_id=telegram_chat_id,
                    kind="message",
                    payload={"update_id": update_id, "message": {"text": telegram_text}},
                    status="done",
                ),
                TelegramDeliveryFailure(
                    update_id=update_id,
                    chat_id=telegram_chat_id,
                    method="send_message",
                    request={"chat_id": telegram_chat_id, "text": "Your visit is booked"},
                    error="Forbidden",
                    attempts=4,
                ),
                TelegramChat(chat_id=telegram_chat_id),
                WebIdentityCode(
                    phone_key=secrets.token_hex(32),
                    visitor_key=hashlib.sha256(visitor.encode()).hexdigest(),
                    salt=secrets.token_hex(16),
                    code_hash=secrets.token_hex(32),
                    attempts=1,
                    expires_at=utcnow() + timedelta(minutes=5),
                ),
                PatientLink(
                    patient_id=patient_id,
                    conversation_id=web_id,
                    token_hash=secrets.token_hex(32),
                    expires_at=utcnow() + timedelta(minutes=30),
                ),
            ]
        )
    await remember_conversations(database, store, (web_id, telegram_id))
    return Seeded(
        patient_id=patient_id,
        conversation_ids=(web_id, telegram_id),
        escalation_id=escalation_id,
        telegram_chat_id=telegram_chat_id,
        web_visitor=visitor,
        texts=(web_text, telegram_text),
        transcript=transcript,
        telegram_update_id=update_id,
    )


async def remember_conversations(
    database: Database, store: MemoryStore, conversation_ids: Sequence[str]
) -> None:
    """The conversations' facts written to the store, as the live path and the rebuild do."""
    async with database.read() as session:
        for conversation_id in conversation_ids:
            conversation = await session.get(db.Conversation, conversation_id)
            assert conversation is not None
            messages = (
                await session.scalars(
                    select(db.Message).where(db.Message.conversation_id == conversation_id)
                )
            ).all()
            escalations = (
                await session.scalars(
                    select(db.Escalation).where(db.Escalation.conversation_id == conversation_id)
                )
            ).all()
            await store.record(conversation_facts(conversation, messages, escalations))


async def app_rows_of(database: Database, seeded: Seeded) -> dict[str, int]:
    """Rows per table that name the patient or anything of theirs (kept tables and the
    practice system's record left out); tables without such a row are left out."""
    values: dict[str, Sequence[object]] = {
        "patient_id": [seeded.patient_id],
        "conversation_id": list(seeded.conversation_ids),
        "escalation_id": [seeded.escalation_id],
        "chat_id": [seeded.telegram_chat_id],
        "update_id": [seeded.telegram_update_id],
        "visitor_key": [hashlib.sha256(seeded.web_visitor.encode()).hexdigest()],
    }
    by_table_id = {
        "conversations": list(seeded.conversation_ids),
        "escalations": [seeded.escalation_id],
        "memory_conversations": list(seeded.conversation_ids),
    }
    found: dict[str, int] = {}
    async with database.read() as session:
        for table in db.Base.metadata.sorted_tables:
            if table.name in KEPT_TABLES | PRACTICE_TABLES:
                continue
            clauses = _clauses(table, values, by_table_id)
            if not clauses:
                continue
            count = await session.scalar(
                select(func.count()).select_from(table).where(or_(*clauses))
            )
            if count:
                found[table.name] = int(count)
    return found


def _clauses(
    table: Table, values: dict[str, Sequence[object]], by_table_id: dict[str, list[str]]
) -> list[ColumnElement[bool]]:
    clauses = [table.c[name].in_(v) for name, v in values.items() if name in table.c]
    if table.name in by_table_id:
        clauses.append(table.c["id"].in_(by_table_id[table.name]))
    if table.name == "memory_patients":
        clauses.append(table.c["id"] == values["patient_id"][0])
    return clauses


async def _sql_memory_nodes(
    store: MemoryStore, database: Database, seeded: Seeded
) -> dict[str, int]:
    """Read from the SQL store's own tables (the app database, MEMORY_BACKEND=sql)."""
    tables = db.Base.metadata.tables
    patients, conversations = tables["memory_patients"], tables["memory_conversations"]
    messages, outcomes = tables["memory_messages"], tables["memory_outcomes"]
    ids = list(seeded.conversation_ids)
    async with database.read() as session:
        return {
            "Patient": int(
                await session.scalar(
                    select(func.count())
                    .select_from(patients)
                    .where(patients.c.id == seeded.patient_id)
                )
                or 0
            ),
            "Conversation": int(
                await session.scalar(
                    select(func.count())
                    .select_from(conversations)
                    .where(
                        or_(
                            conversations.c.id.in_(ids),
                            conversations.c.patient_id == seeded.patient_id,
                        )
                    )
                )
                or 0
            ),
            "Message": int(
                await session.scalar(
                    select(func.count())
                    .select_from(messages)
                    .where(messages.c.conversation_id.in_(ids))
                )
                or 0
            ),
            "Outcome": int(
                await session.scalar(
                    select(func.count())
                    .select_from(outcomes)
                    .join(messages, messages.c.id == outcomes.c.message_id)
                    .where(messages.c.conversation_id.in_(ids))
                )
                or 0
            ),
        }


NEO4J_NODES = {
    "Patient": "MATCH (n:Patient) WHERE n.id = $patient RETURN count(n) AS n",
    "Conversation": "MATCH (n:Conversation) WHERE n.id IN $ids RETURN count(n) AS n",
    "Message": "MATCH (n:Message) WHERE n.conversation IN $ids RETURN count(n) AS n",
    "Outcome": "MATCH (n:Outcome) WHERE n.conversation IN $ids RETURN count(n) AS n",
}
"""Direct Cypher, not the store's own queries. Messages and outcomes are found by the
`conversation` property each seeded node is stamped with below, so a node left behind without
its edges (a half erasure) still counts."""


async def neo4j_memory_nodes(
    server: BoltServer, database: Database, seeded: Seeded
) -> dict[str, int]:
    """Read from the Bolt server itself, over a driver of the test's own."""
    driver = bolt_driver(server)
    try:
        await _stamp_conversations(driver, server.database, seeded)
        counts: dict[str, int] = {}
        async with driver.session(database=server.database) as session:
            for label, query in NEO4J_NODES.items():
                result = await session.run(
                    query, patient=seeded.patient_id, ids=list(seeded.conversation_ids)
                )
                record = await result.single()
                counts[label] = int(record["n"]) if record else 0
        return counts
    finally:
        await driver.close()


async def _stamp_conversations(driver: neo4j.AsyncDriver, name: str, seeded: Seeded) -> None:
    """Mark the seeded conversations' messages and outcomes with their conversation's id
    (idempotent; nothing to mark once they are gone)."""
    async with driver.session(database=name) as session:
        await session.run(
            "MATCH (c:Conversation)-[:CONTAINS]->(m:Message) WHERE c.id IN $ids "
            "SET m.conversation = c.id "
            "WITH c, m OPTIONAL MATCH (m)-[:LED_TO]->(o:Outcome) "
            "FOREACH (x IN CASE WHEN o IS NULL THEN [] ELSE [o] END | SET x.conversation = c.id)",
            ids=list(seeded.conversation_ids),
        )


MemoryNodes = Callable[[Seeded], Awaitable[dict[str, int]]]
"""The patient's nodes read from the store itself: `sql_memory_nodes(database)` or
`neo4j_memory_nodes` on the test's Bolt server."""


def memory_nodes_reader(
    store: MemoryStore, database: Database, server: BoltServer | None
) -> MemoryNodes:
    """How this test reads the store behind the API directly."""
    if store.kind == "neo4j":
        assert server is not None, "a Neo4j store is read over its Bolt server"
        return functools.partial(neo4j_memory_nodes, server, database)
    return functools.partial(_sql_memory_nodes, store, database)
