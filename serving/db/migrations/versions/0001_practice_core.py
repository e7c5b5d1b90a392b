"""Practice core: providers, schedule, patients, appointments, invoices.

Double booking is refused by the database: an exclusion constraint over time ranges on
PostgreSQL (btree_gist), BEFORE INSERT/UPDATE triggers on SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.db.types import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinic_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day"),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=80), nullable=False),
        sa.Column("last_name", sa.String(length=80), nullable=False),
        sa.Column("name_he", sa.String(length=160), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("language IN ('he', 'en')", name="patient_language"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("phone"),
    )
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_he", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("role IN ('dentist', 'hygienist')", name="provider_role"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "treatment_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_he", sa.String(length=120), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("duration_minutes > 0", name="treatment_duration"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("treatment_type_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'cancelled', 'completed', 'no_show')",
            name="appointment_status",
        ),
        sa.CheckConstraint("starts_at < ends_at", name="appointment_order"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["treatment_type_id"],
            ["treatment_types.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_patient_starts", ["patient_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            "ix_appointments_provider_starts", ["provider_id", "starts_at"], unique=False
        )

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount_paid", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("amount_paid <= amount_total", name="invoice_not_overpaid"),
        sa.CheckConstraint("amount_paid >= 0", name="invoice_paid_nonnegative"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "patient_allergies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("substance", sa.String(length=120), nullable=False),
        sa.Column("reaction", sa.String(length=200), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient_allergies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_allergies_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "patient_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_notes_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "provider_treatments",
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("treatment_type_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["treatment_type_id"], ["treatment_types.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider_id", "treatment_type_id"),
    )
    op.create_table(
        "treatment_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('proposed', 'active', 'completed')", name="plan_status"),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("treatment_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_treatment_plans_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "working_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.Time(), nullable=False),
        sa.Column("ends_at", sa.Time(), nullable=False),
        sa.CheckConstraint("starts_at < ends_at", name="working_hours_order"),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="working_hours_weekday"),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "treatment_plan_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("treatment_type_id", sa.Integer(), nullable=False),
        sa.Column("tooth", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("estimated_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("status IN ('planned', 'scheduled', 'done')", name="plan_item_status"),
        sa.ForeignKeyConstraint(["plan_id"], ["treatment_plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["treatment_type_id"],
            ["treatment_types.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )

    _create_overlap_guards()


def downgrade() -> None:
    _drop_overlap_guards()
    op.drop_table("treatment_plan_items")
    op.drop_table("invoice_lines")
    op.drop_table("working_hours")
    with op.batch_alter_table("treatment_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_plans_patient_id"))

    op.drop_table("treatment_plans")
    op.drop_table("provider_treatments")
    with op.batch_alter_table("patient_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_notes_patient_id"))

    op.drop_table("patient_notes")
    with op.batch_alter_table("patient_allergies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_allergies_patient_id"))

    op.drop_table("patient_allergies")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_patient_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_provider_starts")
        batch_op.drop_index("ix_appointments_patient_starts")

    op.drop_table("appointments")
    op.drop_table("treatment_types")
    op.drop_table("providers")
    op.drop_table("patients")
    op.drop_table("clinic_closures")


_SQLITE_OVERLAP = """
CREATE TRIGGER appointments_no_{who}_overlap_{event}
BEFORE {event} ON appointments
WHEN NEW.status = 'scheduled' AND EXISTS (
    SELECT 1 FROM appointments AS other
    WHERE other.{who}_id = NEW.{who}_id
      AND other.status = 'scheduled'
      AND other.id IS NOT NEW.id
      AND other.starts_at < NEW.ends_at
      AND other.ends_at > NEW.starts_at
)
BEGIN
    SELECT RAISE(ABORT, 'appointments_no_{who}_overlap');
END
"""


def _create_overlap_guards() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        for who in ("provider", "patient"):
            op.execute(
                f"ALTER TABLE appointments ADD CONSTRAINT appointments_no_{who}_overlap "
                f"EXCLUDE USING gist ({who}_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)"
                " WHERE (status = 'scheduled')"
            )
    elif bind.dialect.name == "sqlite":
        for who in ("provider", "patient"):
            for event in ("INSERT", "UPDATE"):
                op.execute(_SQLITE_OVERLAP.format(who=who, event=event))


def _drop_overlap_guards() -> None:
    bind = op.get_bind()
    for who in ("provider", "patient"):
        if bind.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE appointments DROP CONSTRAINT appointments_no_{who}_overlap")
        elif bind.dialect.name == "sqlite":
            for event in ("INSERT", "UPDATE"):
                op.execute(f"DROP TRIGGER appointments_no_{who}_overlap_{event}")
