"""Idempotent turns: a message's idempotency key (Telegram: its update id) on the patient's
message and on the reply, unique per conversation and role, so a retried message is neither
stored nor answered twice; and the reply's buttons and actions, so a stored reply can be sent
again as it was.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) on both engines: no table rebuild on SQLite.
    op.add_column("messages", sa.Column("idempotency_key", sa.String(length=80), nullable=True))
    op.add_column("messages", sa.Column("buttons", sa.JSON(), nullable=True))
    op.add_column("messages", sa.Column("actions", sa.JSON(), nullable=True))
    # NULL keys (messages of channels without one) never collide, on both engines.
    op.create_index(
        "ux_messages_idempotency",
        "messages",
        ["conversation_id", "idempotency_key", "role"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_messages_idempotency", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("actions")
        batch_op.drop_column("buttons")
        batch_op.drop_column("idempotency_key")
