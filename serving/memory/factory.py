"""The memory store the settings choose (`MEMORY_BACKEND`)."""

from __future__ import annotations

from serving.db.engine import Database
from serving.memory.sql_store import SqlMemoryStore
from serving.memory.store import MemoryStore
from serving.settings import Settings


def create_memory_store(settings: Settings, database: Database) -> MemoryStore:
    """The SQL store in the app database (`sql`, the default) or the Neo4j graph (`neo4j`)."""
    if settings.memory_backend == "sql":
        return SqlMemoryStore(database)
    raise ValueError(
        f"MEMORY_BACKEND={settings.memory_backend} is not available in this build; use sql"
    )
