"""PostgreSQL databases for the tests, made ahead and dropped behind them.

Every database test on PostgreSQL gets a database of its own, copied from the migrated demo
template. Copying (`CREATE DATABASE ... TEMPLATE`) and above all dropping (PostgreSQL 15 forces
an immediate checkpoint on every `DROP DATABASE`) took about a second per test, spent in the
test's set-up and tear-down while the server did nothing else. Here a thread of its own makes the
next copies while the tests run and drops the used ones after them, on two connections so that a
drop waiting for its checkpoint never holds up a copy. Each test still gets a fresh copy nobody
else has touched, and every database is dropped before the session ends.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

T = TypeVar("T")

AHEAD = 2
"""Copies made before they are asked for: enough to cover one test's run."""
MAX_PENDING_DROPS = 8
"""Used databases waiting to be dropped before a new copy is handed out: bounds the disk the
run holds when tests are quicker than the checkpoints."""


class PostgresCopies:
    """Fresh copies of one template database, on the server `server_url` names (connecting to
    the database it names to run the `CREATE` and `DROP` statements)."""

    def __init__(self, server_url: str, template: str, name_prefix: str) -> None:
        self._server = make_url(server_url)
        self._template = template
        self._prefix = name_prefix
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="postgres-copies", daemon=True
        )
        self._thread.start()
        self._connections: dict[str, asyncpg.Connection] = {}
        self._turns = {"copy": asyncio.Lock(), "drop": asyncio.Lock()}
        self._ready: deque[Future[str]] = deque()
        self._drops: deque[Future[None]] = deque()

    async def take(self) -> str:
        """The SQLAlchemy URL of a fresh copy of the template, the caller's alone."""
        while sum(not drop.done() for drop in self._drops) >= MAX_PENDING_DROPS:
            await asyncio.wrap_future(next(drop for drop in self._drops if not drop.done()))
        while len(self._ready) < AHEAD + 1:
            self._ready.append(self._submit(self._copy()))
        name = await asyncio.wrap_future(self._ready.popleft())
        return self._server.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop this database (a copy, or any other the tests made) behind the tests."""
        name = make_url(url).database
        assert name is not None and name.startswith(self._prefix), url
        self._drops.append(self._submit(self._drop(name)))

    def close(self) -> None:
        """Drop the copies made ahead, wait for every drop, stop the thread; raise the first
        failure, so that a database left behind is reported."""
        try:
            for ready in self._ready:
                self._drops.append(self._submit(self._drop(ready.result())))
            for drop in self._drops:
                drop.result()
        finally:
            self._submit(self._close_connections()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _copy(self) -> str:
        name = f"{self._prefix}{uuid.uuid4().hex[:8]}"
        await self._execute("copy", f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    async def _drop(self, name: str) -> None:
        await self._execute("drop", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _execute(self, role: str, statement: str) -> None:
        """On the role's own connection, one statement at a time, in the order submitted (a
        lock wakes its waiters first come, first served)."""
        async with self._turns[role]:
            if role not in self._connections:
                admin = self._server.set(drivername="postgresql")  # its own database
                self._connections[role] = await asyncpg.connect(
                    admin.render_as_string(hide_password=False), timeout=10
                )
            await self._connections[role].execute(statement)

    async def _close_connections(self) -> None:
        for connection in self._connections.values():
            await connection.close()
