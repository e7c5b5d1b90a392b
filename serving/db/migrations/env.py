"""Alembic environment: migrations run on a connection handed over by `serving.db.migrate`."""

from __future__ import annotations

from alembic import context

from serving.db import (  # noqa: F401 - registers their tables on Base
    clinic_models,
    escalation_models,
    identity_models,
    memory_models,
    privacy_models,
    staff_models,
    telegram_models,
)
from serving.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `dental db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
