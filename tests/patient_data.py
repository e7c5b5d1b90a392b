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
- `memory_nodes_of(store, ...)`: the patient's nodes in the store, by the store's own tables;
  one function per store kind (the Neo4j variant runs Cypher over Bolt).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

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
                    role="assistant",
                    text="A dentist will get back to you.",
                    language="en",
                    outcomes=[escalation(escalation_id)],
                    created_at=now + timedelta(seconds=1),
                ),
                db.Message(
                    conversation_id=telegram_id,
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


MemoryNodes = Callable[[MemoryStore, Database, Seeded], Awaitable[dict[str, int]]]
MEMORY_NODES: dict[str, MemoryNodes] = {"sql": _sql_memory_nodes}
"""Per store kind: the patient's nodes read from the store itself. The Neo4j variant (direct
Cypher over Bolt) is one more entry."""


async def memory_nodes_of(store: MemoryStore, database: Database, seeded: Seeded) -> dict[str, int]:
    return await MEMORY_NODES[store.kind](store, database, seeded)
