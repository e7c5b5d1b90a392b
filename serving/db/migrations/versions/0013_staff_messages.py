"""Staff in the conversation: a staff member may take a conversation over from the assistant
(`conversations.held_by_staff_id`, with their name as the patient sees it and since when), and
their messages are stored with role 'staff' and their name as author (a receptionist is not a
dentist, so role 'doctor' would mislabel them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("message_role", type_="check")
        batch.create_check_constraint(
            "message_role", "role IN ('patient', 'assistant', 'doctor', 'staff')"
        )
    # Plain ADD COLUMN: a batch copy of `conversations` on SQLite would drop the old table,
    # and its ON DELETE CASCADE would take every message and escalation with it.
    # No foreign key: staff accounts are never deleted (disabled instead), and a plain column
    # can be dropped again on SQLite without copying the table.
    op.add_column("conversations", sa.Column("held_by_staff_id", sa.Integer(), nullable=True))
    op.add_column("conversations", sa.Column("held_by", sa.String(length=120), nullable=True))
    op.add_column("conversations", sa.Column("held_since", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE role = 'staff'")
    for column in ("held_since", "held_by", "held_by_staff_id"):
        op.drop_column("conversations", column)
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("message_role", type_="check")
        batch.create_check_constraint("message_role", "role IN ('patient', 'assistant', 'doctor')")
