"""Migrations and the demo loader on a brand-new database of each backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from serving.db import (  # noqa: F401 - registers their tables on Base, as migrations/env.py
    clinic_models,
    escalation_models,
    identity_models,
    memory_models,
    staff_models,
    telegram_models,
)
from serving.db import models as db
from serving.db.engine import Database
from serving.db.migrate import head_revision, migration_status, upgrade_database
from serving.demo import DemoRefused, load_demo_clinic
from tests.conftest import make_settings


async def test_upgrade_creates_every_table_and_is_idempotent(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        status = await migration_status(database.engine)
        assert status.current is None and not status.is_current
        await upgrade_database(database.engine)
        await upgrade_database(database.engine)
        status = await migration_status(database.engine)
        assert status.is_current and status.current == head_revision()
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(db.Base.metadata.tables) <= tables
    finally:
        await database.dispose()


async def test_the_models_are_the_migrated_schema(empty_database_url: str) -> None:
    """Every table, column, type, index and key of the models is what the migrations make."""
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine)
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
            )
        assert differences == []
    finally:
        await database.dispose()


async def test_demo_loads_once_and_never_into_production(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine)
        with pytest.raises(DemoRefused):
            await load_demo_clinic(
                database, make_settings(empty_database_url, environment="production")
            )
        async with database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(db.Patient)) == 0
        assert await load_demo_clinic(database, make_settings(empty_database_url)) is True
        assert await load_demo_clinic(database, make_settings(empty_database_url)) is False
        async with database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(db.Patient)) == 20
            assert await session.scalar(select(func.count()).select_from(db.Provider)) == 3
    finally:
        await database.dispose()


async def test_a_table_rebuilt_by_a_migration_keeps_the_rows_that_refer_to_it(
    empty_database_url: str,
) -> None:
    """0014 rebuilds `conversations` on SQLite (to drop a foreign key). With foreign keys on,
    dropping the old table would delete every message and escalation referring to it."""
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine, "0013")
        # Core inserts: only the columns named (and those with defaults), all there at 0013.
        async with database.transaction() as session:
            await session.execute(
                insert(db.Conversation.__table__).values(
                    id="c1", channel="web", external_user_id="u1"
                )
            )
            await session.execute(
                insert(db.Message.__table__).values(
                    conversation_id="c1", role="patient", text="hi", language="en"
                )
            )
            await session.execute(
                insert(db.Escalation.__table__).values(
                    id="e1",
                    conversation_id="c1",
                    urgency="EMERGENCY",
                    summary="s",
                    last_summary="s",
                )
            )

        await upgrade_database(database.engine)

        async with database.read() as session:
            messages = await session.scalar(select(func.count()).select_from(db.Message))
            escalations = await session.scalar(select(func.count()).select_from(db.Escalation))
        assert (messages, escalations) == (1, 1)
    finally:
        await database.dispose()


async def test_messages_and_escalations_take_their_conversations_binding(
    empty_database_url: str,
) -> None:
    """0018: rows written before messages and escalations kept whose they were take their
    conversation's binding then, the best that is known; unbound ones stay nobody's."""
    database = Database(empty_database_url)
    try:
        await upgrade_database(database.engine, "0017")
        async with database.transaction() as session:
            for conversation, patient in (("bound", 7), ("unbound", None)):
                await session.execute(
                    insert(db.Conversation.__table__).values(
                        id=conversation, channel="web", external_user_id=conversation,
                        patient_id=patient,
                    )
                )  # fmt: skip
                await session.execute(
                    insert(db.Message.__table__).values(
                        conversation_id=conversation, role="patient", text="hi", language="en"
                    )
                )
                await session.execute(
                    insert(db.Escalation.__table__).values(
                        id=f"e-{conversation}", conversation_id=conversation,
                        urgency="EMERGENCY", summary="s", last_summary="s",
                    )
                )  # fmt: skip

        await upgrade_database(database.engine)

        async with database.read() as session:
            messages = {
                conversation: patient
                for conversation, patient in await session.execute(
                    select(db.Message.conversation_id, db.Message.patient_id)
                )
            }
            escalations = {
                escalation: patient
                for escalation, patient in await session.execute(
                    select(db.Escalation.id, db.Escalation.patient_id)
                )
            }
        assert messages == {"bound": 7, "unbound": None}
        assert escalations == {"e-bound": 7, "e-unbound": None}
    finally:
        await database.dispose()
