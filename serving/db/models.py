"""Tables of the app database: the built-in practice system (patients, providers, schedule,
appointments, invoices). Later features add their own tables next to these."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from serving.db.types import UTCDateTime, utcnow

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    """Declarative base of every table."""


provider_treatments = Table(
    "provider_treatments",
    Base.metadata,
    Column("provider_id", ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "treatment_type_id", ForeignKey("treatment_types.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Provider(Base):
    __tablename__ = "providers"
    __table_args__ = (CheckConstraint("role IN ('dentist', 'hygienist')", name="provider_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_he: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)

    working_hours: Mapped[list[WorkingHours]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="WorkingHours.weekday"
    )
    treatment_types: Mapped[list[TreatmentType]] = relationship(secondary=provider_treatments)


class WorkingHours(Base):
    """One weekly working window of a provider; weekday follows Python (Monday = 0)."""

    __tablename__ = "working_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="working_hours_weekday"),
        CheckConstraint("starts_at < ends_at", name="working_hours_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)

    provider: Mapped[Provider] = relationship(back_populates="working_hours")


class TreatmentType(Base):
    __tablename__ = "treatment_types"
    __table_args__ = (CheckConstraint("duration_minutes > 0", name="treatment_duration"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_he: Mapped[str] = mapped_column(String(120))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="ILS")


class ClinicClosure(Base):
    """A whole day the clinic is closed beyond Shabbat and public holidays (e.g. staff day)."""

    __tablename__ = "clinic_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    reason: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (CheckConstraint("language IN ('he', 'en')", name="patient_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    name_he: Mapped[str | None] = mapped_column(String(160))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="he")
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    allergies: Mapped[list[PatientAllergy]] = relationship(cascade="all, delete-orphan")


class PatientAllergy(Base):
    __tablename__ = "patient_allergies"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    substance: Mapped[str] = mapped_column(String(120))
    reaction: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(20), default="unknown")


class PatientNote(Base):
    __tablename__ = "patient_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    for_patient: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Written for the patient to read (instructions, reminders); staff notes and transcripts
    are not, and the assistant never reads those out."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TreatmentPlan(Base):
    __tablename__ = "treatment_plans"
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'active', 'completed')", name="plan_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[TreatmentPlanItem]] = relationship(
        cascade="all, delete-orphan", order_by="TreatmentPlanItem.id"
    )


class TreatmentPlanItem(Base):
    __tablename__ = "treatment_plan_items"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'scheduled', 'done')", name="plan_item_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id", ondelete="CASCADE"))
    treatment_type_id: Mapped[int] = mapped_column(ForeignKey("treatment_types.id"))
    tooth: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    estimated_price: Mapped[Decimal] = mapped_column(Money)

    treatment_type: Mapped[TreatmentType] = relationship()


class Appointment(Base):
    """A booked visit. Overlaps of scheduled visits are refused by the database itself:
    an exclusion constraint on PostgreSQL and triggers on SQLite (see the migrations)."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="appointment_order"),
        CheckConstraint(
            "status IN ('scheduled', 'cancelled', 'completed', 'no_show')",
            name="appointment_status",
        ),
        Index("ix_appointments_provider_starts", "provider_id", "starts_at"),
        Index("ix_appointments_patient_starts", "patient_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    treatment_type_id: Mapped[int] = mapped_column(ForeignKey("treatment_types.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    notes: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    provider: Mapped[Provider] = relationship()
    treatment_type: Mapped[TreatmentType] = relationship()


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("amount_paid >= 0", name="invoice_paid_nonnegative"),
        CheckConstraint("amount_paid <= amount_total", name="invoice_not_overpaid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="ILS")
    amount_total: Mapped[Decimal] = mapped_column(Money)
    amount_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    lines: Mapped[list[InvoiceLine]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceLine.id"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money)


class Conversation(Base):
    """One patient's conversation on one channel; its dialogue state survives restarts."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "external_user_id", name="conversation_user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_user_id: Mapped[str] = mapped_column(String(128))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    """The verified patient's id in the practice system (built-in or Odoo): no foreign key,
    since the patient may live in the clinic's own system rather than in `patients`."""
    language: Mapped[str] = mapped_column(String(2), default="he")
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Who is answering this conversation now: one turn at a time across every serving process.
    # The lease expires, so a process that died mid-turn does not block the patient forever.
    turn_owner: Mapped[str | None] = mapped_column(String(32))
    turn_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A staff member who took the conversation over (the staff console): the assistant is
    # silent, as while a dentist holds its escalation, until they hand it back.
    held_by_staff_id: Mapped[int | None] = mapped_column(Integer)
    """The staff user's id (`staff_users.id`; accounts are never deleted, so no foreign key)."""
    held_by: Mapped[str | None] = mapped_column(String(120))
    """The holding staff member's name, as the patient sees it."""
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PracticeSystem(Base):
    """Which practice system `conversations.patient_id` refers to (one row): "builtin", or
    "odoo:<url>/<database>"."""

    __tablename__ = "practice_system"
    __table_args__ = (CheckConstraint("id = 1", name="practice_system_one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(300))
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """A patient message or an assistant reply, with what produced it.

    `idempotency_key` is the channel's id of the patient's message (Telegram: the update id),
    on the message and on its reply: a retried message is neither stored nor answered twice.
    A reply keeps its `buttons` and `actions`, so it can be sent again as it was.
    """

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('patient', 'assistant', 'doctor', 'staff')", name="message_role"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ux_messages_idempotency", "conversation_id", "idempotency_key", "role", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The conversation's verified patient when the message was written (None before anyone
    proved who they are): a conversation's binding changes, and a patient's export and erasure
    take the messages that were theirs (serving/privacy/holdings.py)."""
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    button: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    urgency: Mapped[str | None] = mapped_column(String(20))
    intent: Mapped[str | None] = mapped_column(String(40))
    memory_pattern: Mapped[str | None] = mapped_column(String(60))
    bundle_version: Mapped[str | None] = mapped_column(String(120))
    model: Mapped[str | None] = mapped_column(String(120))
    architecture: Mapped[str | None] = mapped_column(String(20))
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    buttons: Mapped[list[list[str]] | None] = mapped_column(JSON)
    """[[text, data], ...] of the reply's buttons, in order."""
    actions: Mapped[list[str] | None] = mapped_column(JSON)
    outcomes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """What memory learns from (serving.memory.turn_outcomes): on a reply, what its turn did; on
    a patient message, what its turn did without a reply; on a dentist's message, the booking
    it reports: [{"kind": "booked"|"moved"|"cancelled", "provider_id", "provider_name",
    "visit_at", "appointment_id"}, {"kind": "escalated", "escalation_id"}]."""
    triage_decided_by: Mapped[str | None] = mapped_column(String(160))
    """On a patient message: what set its urgency — rule ids, `model:<version>` or a fail-safe."""
    triage_score: Mapped[float | None] = mapped_column(Float)
    """The classifier's calibrated probability when a model decided (or was consulted)."""
    safety_answer: Mapped[str | None] = mapped_column(String(8))
    """On a patient message answering the safety question: `yes` or `no`."""
    author: Mapped[str | None] = mapped_column(String(120))
    """On a dentist's or staff member's message: their name, as the patient sees it."""
    delivery: Mapped[str | None] = mapped_column(String(10))
    """On a message sent outside a turn: `sent` or `failed` (its channel's answer)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


ESCALATION_UNCLOSED = text("status <> 'closed'")
"""An escalation the clinic has not closed (open, or claimed by a dentist): at most one per
conversation, which later messages of the conversation attach to."""


class Escalation(Base):
    """A conversation handed to the clinic: an emergency, or a question for a dentist.

    One per conversation until it is closed: repeats attach to it (`message_count`,
    `last_summary`, `updated_at`) and raise its urgency, never lower it.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        CheckConstraint(
            "urgency IN ('EMERGENCY', 'DOCTOR_REQUIRED', 'ROUTINE')", name="escalation_urgency"
        ),
        CheckConstraint("status IN ('open', 'claimed', 'closed')", name="escalation_status"),
        Index(
            "uq_escalations_unclosed_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=ESCALATION_UNCLOSED,
            sqlite_where=ESCALATION_UNCLOSED,
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The conversation's verified patient when the escalation opened, as on messages."""
    urgency: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[str] = mapped_column(Text, default="")
    """The rules that fired for the message that set the current urgency."""
    summary: Mapped[str] = mapped_column(Text)
    """The message that opened the escalation."""
    last_summary: Mapped[str] = mapped_column(Text)
    """The latest message that attached to it (the opening one until another does)."""
    message_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """How many patient messages raised it."""
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notify_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """When the on-call dentist is to be notified next (opened, urgency raised, an EMERGENCY
    repeat, a retry); None when nothing is due. A dispatcher claims a due round by moving it."""
    notified_rounds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a dentist first opened a link to it: repeats stop (status `claimed`)."""
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the dentist first wrote: from then on the dentist holds the conversation and the
    assistant is silent except for the safety layer, until the escalation closes."""
    doctor_name: Mapped[str | None] = mapped_column(String(120))
    """The dentist who joined."""
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transcript: Mapped[str | None] = mapped_column(Text)
    """The conversation from the opening message to the hand-back, as saved to the patient
    record: kept here too, for a patient who never proved who they are, and for memory."""


class GuardEvent(Base):
    """A safety intervention: a reply replaced by the output guard, or an injection attempt."""

    __tablename__ = "guard_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
