"""Why a Telegram update was dead-lettered (status `failed`): the error class and a short
description an operator can read, never the patient's text.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) on both engines: no table rebuild on SQLite.
    op.add_column("telegram_updates", sa.Column("error", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_updates", schema=None) as batch_op:
        batch_op.drop_column("error")
