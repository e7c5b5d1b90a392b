"""The memory stores the contract suite (tests/test_memory_contract.py) runs on, behind one
fixture: `memory_store`. A pytest plugin (tests/conftest.py `pytest_plugins`), so any test
module can ask for it.

- "sql-sqlite", "sql-postgresql": `SqlMemoryStore` on a fresh copy of the migrated demo
  database, the same databases the `database` fixture gives, on each engine.
- "neo4j": `Neo4jMemoryStore` over Bolt on the session's real Bolt server (ArcadeDB,
  tests/bolt_server.py), its graph cleared and prepared for each test.

A new kind is one entry in STORES: its id and an async context manager that builds the store
(from the request's other fixtures) and closes it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from serving.db.engine import Database
from serving.memory.neo4j_store import Neo4jMemoryStore
from serving.memory.sql_store import SqlMemoryStore
from serving.memory.store import MemoryStore
from tests.bolt_server import BoltServer, bolt_driver
from tests.bolt_server import bolt_server_fixture as bolt_server_fixture
from tests.conftest import demo_database_copy
from tests.postgres_copies import PostgresCopies

StoreFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[MemoryStore]]


@asynccontextmanager
async def sql_store(engine: str, request: pytest.FixtureRequest) -> AsyncIterator[MemoryStore]:
    async with demo_database_copy(
        engine,
        request.getfixturevalue("demo_templates"),
        request.getfixturevalue("postgres_copies"),
        request.getfixturevalue("tmp_path"),
    ) as url:
        database = Database(url)
        store = SqlMemoryStore(database)
        try:
            yield store
        finally:
            await store.close()
            await database.dispose()


@asynccontextmanager
async def neo4j_store(request: pytest.FixtureRequest) -> AsyncIterator[MemoryStore]:
    server: BoltServer = request.getfixturevalue("bolt_server")
    store = Neo4jMemoryStore(bolt_driver(server), database=server.database)
    try:
        await store.clear()
        await store.prepare()
        yield store
    finally:
        await store.close()


STORES: dict[str, StoreFactory] = {
    "sql-sqlite": functools.partial(sql_store, "sqlite"),
    "sql-postgresql": functools.partial(sql_store, "postgresql"),
    "neo4j": neo4j_store,
}


@pytest.fixture(params=list(STORES))
async def memory_store(
    request: pytest.FixtureRequest,
    demo_templates: dict[str, str],
    postgres_copies: PostgresCopies,
    tmp_path: Path,
) -> AsyncIterator[MemoryStore]:
    """An empty memory store of each kind, closed after the test.

    The app database's fixtures are asked for here, not by the factories: an async fixture
    cannot be set up from inside another one (`getfixturevalue`), only read once it is."""
    async with STORES[request.param](request) as store:
        yield store
