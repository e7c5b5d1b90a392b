"""Tables of the memory graph on SQL (`MEMORY_BACKEND=sql`, serving/memory/sql_store.py): one
table per node label, edges as columns of the node they leave or reach (a conversation's
patient is its HAD, a message's conversation its CONTAINS, and so on). No message text: the
words stay in `messages`, which the graph is rebuilt from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime


class MemoryPatient(Base):
    """A Patient node: the practice system's patient id (no foreign key: the patient may live
    in the clinic's own system)."""

    __tablename__ = "memory_patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class MemoryConversation(Base):
    __tablename__ = "memory_conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The HAD edge's patient (`memory_patients.id`, kept without a foreign key like
    `conversations.patient_id`); None while the conversation is not bound. The edge's `at` is
    `started_at`."""
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemoryPattern(Base):
    """A Pattern node, shared by every message that MATCHED it."""

    __tablename__ = "memory_patterns"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)


class MemoryMessage(Base):
    """A Message node (`id` is `messages.id`), its conversation (CONTAINS, at = `at`) and the
    pattern it matched (MATCHED, at = `at`)."""

    __tablename__ = "memory_messages"
    __table_args__ = (
        CheckConstraint(
            "role IN ('patient', 'assistant', 'doctor', 'staff')", name="memory_message_role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("memory_conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str | None] = mapped_column(ForeignKey("memory_patterns.name"), index=True)
    intent: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(20))


class MemoryDoctor(Base):
    """A Doctor node: `provider:<id>` for a practice-system provider, `dentist:<name>` for the
    dentist who closed an escalation (serving.memory.records)."""

    __tablename__ = "memory_doctors"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(120))


class MemoryOutcome(Base):
    """An Outcome node, the message that LED_TO it (at = `at`), the Doctor it is WITH (a
    visit's provider) and the Doctor it was RESOLVED_BY (at = `resolved_at`)."""

    __tablename__ = "memory_outcomes"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('booked', 'moved', 'cancelled', 'no_show', 'escalated')",
            name="memory_outcome_kind",
        ),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("memory_messages.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointment_id: Mapped[int | None] = mapped_column(Integer)
    """The practice system's appointment of a visit outcome (no foreign key: it may live in
    the clinic's own system)."""
    escalation_id: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    with_doctor: Mapped[str | None] = mapped_column(ForeignKey("memory_doctors.key"))
    resolved_by_doctor: Mapped[str | None] = mapped_column(ForeignKey("memory_doctors.key"))
