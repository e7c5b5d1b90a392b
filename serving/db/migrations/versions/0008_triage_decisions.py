"""Triage decisions on each patient message: what decided its urgency (rule ids, a model and
its version, or the fail-safe), the model's calibrated score, and the patient's answer to the
safety question ("is anyone having trouble breathing, ...?") when the message answered one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) on both engines: no table rebuild on SQLite.
    op.add_column("messages", sa.Column("triage_decided_by", sa.String(length=160), nullable=True))
    op.add_column("messages", sa.Column("triage_score", sa.Float(), nullable=True))
    op.add_column("messages", sa.Column("safety_answer", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("safety_answer")
        batch_op.drop_column("triage_score")
        batch_op.drop_column("triage_decided_by")
