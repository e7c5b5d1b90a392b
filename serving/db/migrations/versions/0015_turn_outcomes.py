"""What a turn did, on its reply: `messages.outcomes`, a JSON list of the visits booked, moved or
cancelled and the escalation opened, with the provider and the visit's time. The memory graph
is rebuilt from it (`dental memory rebuild`), so the app database stays the source of truth.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nullable, no constraint, so SQLite needs no batch copy of `messages`.
    op.add_column("messages", sa.Column("outcomes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("outcomes")
