"""A patient's privacy rights: `patient_links` (the private, short-lived links to their own
data, token hashes only) and `erasure_receipts` (what an erasure removed, counts only).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "conversation_id",
            sa.String(length=32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_patient_links_patient_id", "patient_links", ["patient_id"])
    op.create_index("ix_patient_links_conversation_id", "patient_links", ["conversation_id"])
    op.create_table(
        "erasure_receipts",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("erased_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=60), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
    )
    op.create_index("ix_erasure_receipts_patient_id", "erasure_receipts", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_erasure_receipts_patient_id", table_name="erasure_receipts")
    op.drop_table("erasure_receipts")
    op.drop_index("ix_patient_links_conversation_id", table_name="patient_links")
    op.drop_index("ix_patient_links_patient_id", table_name="patient_links")
    op.drop_table("patient_links")
