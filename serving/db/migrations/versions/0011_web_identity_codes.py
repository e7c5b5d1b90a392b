"""The web chat's phone verification: the live SMS code of each phone (hashes only).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_identity_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone_key", sa.String(length=64), nullable=False, unique=True),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("attempts >= 0", name="web_identity_code_attempts"),
    )
    op.create_index("ix_web_identity_codes_expires_at", "web_identity_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_identity_codes_expires_at", table_name="web_identity_codes")
    op.drop_table("web_identity_codes")
