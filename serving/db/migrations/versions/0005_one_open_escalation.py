"""One unclosed escalation per conversation: repeats attach to it (how many messages raised
it, the latest one's summary, when it last changed) instead of adding a row each.

Conversations that already have several unclosed escalations are folded into their oldest one,
as the new code would have recorded them: the count of the rows, the highest urgency (with its
rules), the newest summary and time. The folded rows are deleted; the patient's messages they
pointed at stay in `messages`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCLOSED = sa.text("status <> 'closed'")
_RANK = {"EMERGENCY": 0, "DOCTOR_REQUIRED": 1, "ROUTINE": 2}

escalations = sa.table(
    "escalations",
    sa.column("id", sa.String()),
    sa.column("conversation_id", sa.String()),
    sa.column("urgency", sa.String()),
    sa.column("reasons", sa.Text()),
    sa.column("summary", sa.Text()),
    sa.column("last_summary", sa.Text()),
    sa.column("message_count", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


def upgrade() -> None:
    op.add_column(
        "escalations",
        sa.Column("message_count", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("escalations", sa.Column("last_summary", sa.Text(), nullable=True))
    op.add_column("escalations", sa.Column("updated_at", UTCDateTime(), nullable=True))
    op.execute(
        escalations.update().values(
            last_summary=escalations.c.summary, updated_at=escalations.c.created_at
        )
    )
    _fold_unclosed_duplicates(op.get_bind())
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.alter_column("last_summary", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("updated_at", existing_type=UTCDateTime(), nullable=False)
    op.create_index(
        "uq_escalations_unclosed_conversation",
        "escalations",
        ["conversation_id"],
        unique=True,
        postgresql_where=UNCLOSED,
        sqlite_where=UNCLOSED,
    )


def _fold_unclosed_duplicates(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.select(escalations)
        .where(UNCLOSED)
        .order_by(escalations.c.conversation_id, escalations.c.created_at, escalations.c.id)
    ).all()
    groups: dict[str, list[sa.Row[tuple[object, ...]]]] = {}
    for row in rows:
        groups.setdefault(row.conversation_id, []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        oldest, newest = group[0], group[-1]
        most_urgent = min(group, key=lambda row: _RANK.get(row.urgency, len(_RANK)))
        bind.execute(
            escalations.update()
            .where(escalations.c.id == oldest.id)
            .values(
                message_count=sum(row.message_count for row in group),
                urgency=most_urgent.urgency,
                reasons=most_urgent.reasons,
                last_summary=newest.summary,
                updated_at=newest.created_at,
            )
        )
        bind.execute(escalations.delete().where(escalations.c.id.in_([r.id for r in group[1:]])))


def downgrade() -> None:
    op.drop_index("uq_escalations_unclosed_conversation", table_name="escalations")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("last_summary")
        batch_op.drop_column("message_count")
