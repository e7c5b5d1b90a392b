"""The patient may live in the clinic's own practice system (Odoo), not only in the built-in
one: `conversations.patient_id` is the practice system's patient id and no longer a foreign key
to the built-in `patients` table; `practice_system` records which system those ids belong to,
so a switch to another one (built in to Odoo, or another Odoo database) clears the bindings
instead of handing a patient's conversation another person's records. A patient note can be
meant for the patient
(`patient_notes.for_patient`: instructions the clinic wrote for them), as opposed to staff notes
and transcripts, which the assistant never reads out.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0002 left the foreign key unnamed: PostgreSQL named it by its default rule; on SQLite the
# batch copy names the reflected (nameless) key by this convention so it can be dropped.
_PG_NAME = "conversations_patient_id_fkey"
_BATCH_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_NAME = "fk_conversations_patient_id_patients"


def upgrade() -> None:
    op.create_table(
        "practice_system",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=300), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name="practice_system_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column(
        "patient_notes",
        sa.Column("for_patient", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "conversations", naming_convention=_BATCH_NAMES, recreate="always"
        ) as batch:
            batch.drop_constraint(_SQLITE_NAME, type_="foreignkey")
    else:
        op.drop_constraint(_PG_NAME, "conversations", type_="foreignkey")


def downgrade() -> None:
    # Patients of another practice system have no row here.
    op.execute(
        "UPDATE conversations SET patient_id = NULL "
        "WHERE patient_id IS NOT NULL AND patient_id NOT IN (SELECT id FROM patients)"
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("conversations", recreate="always") as batch:
            batch.create_foreign_key(
                _SQLITE_NAME, "patients", ["patient_id"], ["id"], ondelete="SET NULL"
            )
    else:
        op.create_foreign_key(
            _PG_NAME, "conversations", "patients", ["patient_id"], ["id"], ondelete="SET NULL"
        )
    op.drop_column("patient_notes", "for_patient")
    op.drop_table("practice_system")
