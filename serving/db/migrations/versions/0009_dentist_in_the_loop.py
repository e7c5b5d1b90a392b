"""The dentist in the loop: the on-call rota (doctors, weekly shifts), private doctor links
(token hashes only), every notification sent about an escalation with its delivery result, the
escalation's milestones (notified, opened, joined, closed), and dentists' messages in the
conversation (`messages.role` 'doctor', with the dentist's name and the delivery result).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oncall_doctors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False, unique=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("language IN ('he', 'en')", name="oncall_doctor_language"),
    )
    op.create_table(
        "oncall_shifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("oncall_doctors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="oncall_shift_weekday"),
    )
    op.create_index("ix_oncall_shifts_doctor_id", "oncall_shifts", ["doctor_id"])
    op.create_table(
        "doctor_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "escalation_id",
            sa.String(length=32),
            sa.ForeignKey("escalations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("oncall_doctors.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_doctor_links_escalation_id", "doctor_links", ["escalation_id"])
    op.create_table(
        "escalation_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "escalation_id",
            sa.String(length=32),
            sa.ForeignKey("escalations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("oncall_doctors.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=120), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'telegram')", name="escalation_notification_channel"
        ),
        sa.CheckConstraint("status IN ('sent', 'failed')", name="escalation_notification_status"),
    )
    op.create_index(
        "ix_escalation_notifications_escalation",
        "escalation_notifications",
        ["escalation_id", "id"],
    )
    op.add_column("escalations", sa.Column("notify_at", UTCDateTime(), nullable=True))
    op.add_column(
        "escalations",
        sa.Column("notified_rounds", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("escalations", sa.Column("opened_at", UTCDateTime(), nullable=True))
    op.add_column("escalations", sa.Column("joined_at", UTCDateTime(), nullable=True))
    op.add_column("escalations", sa.Column("doctor_name", sa.String(length=120), nullable=True))
    op.add_column("escalations", sa.Column("closed_at", UTCDateTime(), nullable=True))
    op.add_column("escalations", sa.Column("transcript", sa.Text(), nullable=True))
    op.create_index("ix_escalations_notify_at", "escalations", ["notify_at"])
    op.add_column("messages", sa.Column("author", sa.String(length=120), nullable=True))
    op.add_column("messages", sa.Column("delivery", sa.String(length=10), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("message_role", type_="check")
        batch_op.create_check_constraint(
            "message_role", "role IN ('patient', 'assistant', 'doctor')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE role = 'doctor'")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("message_role", type_="check")
        batch_op.create_check_constraint("message_role", "role IN ('patient', 'assistant')")
        batch_op.drop_column("delivery")
        batch_op.drop_column("author")
    op.drop_index("ix_escalations_notify_at", table_name="escalations")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("transcript")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("doctor_name")
        batch_op.drop_column("joined_at")
        batch_op.drop_column("opened_at")
        batch_op.drop_column("notified_rounds")
        batch_op.drop_column("notify_at")
    op.drop_index("ix_escalation_notifications_escalation", table_name="escalation_notifications")
    op.drop_table("escalation_notifications")
    op.drop_index("ix_doctor_links_escalation_id", table_name="doctor_links")
    op.drop_table("doctor_links")
    op.drop_index("ix_oncall_shifts_doctor_id", table_name="oncall_shifts")
    op.drop_table("oncall_shifts")
    op.drop_table("oncall_doctors")
