"""Alembic migrations run programmatically on the app's own async engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str | None

    @property
    def is_current(self) -> bool:
        return self.current is not None and self.current == self.head


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (default: the newest).

    On SQLite they run with foreign keys off, as SQLite's own procedure for changing a table
    requires: a batch migration copies a table and drops the old one, and with foreign keys on
    that drop would cascade to every row referring to it. The keys are checked before commit.
    """

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                tables = sorted({str(row[0]) for row in broken})
                raise RuntimeError(f"migration left broken foreign keys in {', '.join(tables)}")

    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await connection.run_sync(_foreign_keys, on=False)
        try:
            async with connection.begin():
                await connection.run_sync(_upgrade)
        finally:
            if sqlite:
                await connection.run_sync(_foreign_keys, on=True)


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    """Switch SQLite's foreign keys on the connection's own DBAPI cursor: SQLite ignores the
    pragma inside a transaction, and any statement through SQLAlchemy begins one first (the
    engine emits BEGIN itself), so it must not go through SQLAlchemy."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
        cursor.execute("PRAGMA foreign_keys")
        state = cursor.fetchone()
        if state is None or bool(state[0]) is not on:
            raise RuntimeError("SQLite did not switch its foreign keys: is a transaction open?")
    finally:
        cursor.close()


async def migration_status(engine: AsyncEngine) -> MigrationStatus:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    return MigrationStatus(current=current, head=head_revision())
