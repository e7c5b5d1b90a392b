"""The async engine and session factory, with the SQLite settings a clinic can trust."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
READ_ONLY = "dental_read_only"
"""Execution option marking a connection's transactions as read-only (see `Database.read`)."""


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg).

    On SQLite every transaction starts with `BEGIN IMMEDIATE`, which takes the write lock at
    once: check-then-insert sequences (booking a slot) are serialised across processes instead
    of failing late with "database is locked". Read-only transactions (`Database.read`) start
    with a plain `BEGIN`: in WAL mode they read a snapshot without waiting for the writer, so
    reading a patient or free slots never queues behind another process's booking.
    """
    url = make_url(database_url)
    # Statement parameters are patient data: keep them out of exception messages and logs.
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **kwargs
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and its session factories, created once per process and passed around."""

    def __init__(self, database_url: str, **engine_kwargs: Any) -> None:
        self.engine = create_engine(database_url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readers = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._sqlite = self.engine.url.get_backend_name() == "sqlite"
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def insert(self, target: Table | type[Any]) -> postgresql.Insert | sqlite.Insert:
        """INSERT with this engine's ON CONFLICT support (both engines have it): for stores that
        dedupe or upsert in one statement."""
        return (sqlite.insert if self._sqlite else postgresql.insert)(target)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error.

        On SQLite the write transactions of this process take turns on an asyncio lock before
        `BEGIN IMMEDIATE`. SQLite has one writer; a second connection asking for the lock would
        sleep in SQLite's busy handler (1, 2, 5, 10 ... 100 ms steps) while the holder waits for
        the event loop, and under load those sleeps became most of a reply's latency. Waiting on
        the event loop costs nothing and is served in arrival order.
        """
        if not self._sqlite:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._writer(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        lock = self._writers.setdefault(loop, asyncio.Lock())
        try:
            # As long as SQLite itself would wait (busy_timeout) before "database is locked".
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_SECONDS):
                await lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked")
            ) from None
        try:
            yield
        finally:
            lock.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction that only reads (on SQLite it does not take the write
        lock). Writing in it is a programming error; use `transaction` for that."""
        async with self._readers() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
