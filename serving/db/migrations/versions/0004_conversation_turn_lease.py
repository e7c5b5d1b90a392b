"""A lease on each conversation, so one turn at a time is answered across serving processes;
the language model's token usage on each stored reply.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) on both engines: no table rebuild on SQLite.
    op.add_column("conversations", sa.Column("turn_owner", sa.String(length=32), nullable=True))
    op.add_column("conversations", sa.Column("turn_expires_at", UTCDateTime(), nullable=True))
    op.add_column("messages", sa.Column("tokens", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("tokens")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("turn_expires_at")
        batch_op.drop_column("turn_owner")
