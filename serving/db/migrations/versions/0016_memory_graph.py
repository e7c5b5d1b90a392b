"""The memory graph on SQL (`MEMORY_BACKEND=sql`): patients, conversations, messages, patterns,
outcomes and doctors, edges as columns (serving/db/memory_models.py). No message text.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_patients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    )
    op.create_table(
        "memory_conversations",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_memory_conversations_patient_id", "memory_conversations", ["patient_id"])
    op.create_table(
        "memory_patterns",
        sa.Column("name", sa.String(length=60), primary_key=True),
    )
    op.create_table(
        "memory_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column(
            "conversation_id",
            sa.String(length=64),
            sa.ForeignKey("memory_conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "pattern", sa.String(length=60), sa.ForeignKey("memory_patterns.name"), nullable=True
        ),
        sa.Column("intent", sa.String(length=40), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.CheckConstraint(
            "role IN ('patient', 'assistant', 'doctor', 'staff')", name="memory_message_role"
        ),
    )
    op.create_index("ix_memory_messages_conversation_id", "memory_messages", ["conversation_id"])
    op.create_index("ix_memory_messages_pattern", "memory_messages", ["pattern"])
    op.create_table(
        "memory_doctors",
        sa.Column("key", sa.String(length=160), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=True),
    )
    op.create_table(
        "memory_outcomes",
        sa.Column("id", sa.String(length=80), primary_key=True),
        sa.Column(
            "message_id",
            sa.Integer(),
            sa.ForeignKey("memory_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("visit_at", UTCDateTime(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("escalation_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column(
            "with_doctor", sa.String(length=160), sa.ForeignKey("memory_doctors.key"), nullable=True
        ),
        sa.Column(
            "resolved_by_doctor",
            sa.String(length=160),
            sa.ForeignKey("memory_doctors.key"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "kind IN ('booked', 'moved', 'cancelled', 'no_show', 'escalated')",
            name="memory_outcome_kind",
        ),
    )
    op.create_index("ix_memory_outcomes_message_id", "memory_outcomes", ["message_id"])


def downgrade() -> None:
    op.drop_table("memory_outcomes")
    op.drop_table("memory_doctors")
    op.drop_table("memory_messages")
    op.drop_table("memory_patterns")
    op.drop_table("memory_conversations")
    op.drop_table("memory_patients")
