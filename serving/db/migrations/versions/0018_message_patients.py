"""Whose a message and an escalation are: `messages.patient_id` and `escalations.patient_id`,
the conversation's verified patient when they were written. A conversation's binding changes
(a visitor on a shared device proves another phone, a failed re-verification unbinds it), so
the current binding alone cannot tell a patient's export or erasure which messages were theirs.
Existing rows take their conversation's current binding, the best that is known.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("messages", "escalations")
CONVERSATIONS = sa.table("conversations", sa.column("id"), sa.column("patient_id"))


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        written = sa.table(table, sa.column("patient_id"), sa.column("conversation_id"))
        bound = (
            sa.select(CONVERSATIONS.c.patient_id)
            .where(CONVERSATIONS.c.id == written.c.conversation_id)
            .scalar_subquery()
        )
        op.execute(written.update().values(patient_id=bound))
        op.create_index(f"ix_{table}_patient_id", table, ["patient_id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_patient_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("patient_id")
