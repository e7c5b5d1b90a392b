"""`OdooClient`: Odoo's JSON-RPC for async callers, over a small pool of connections.

odoorpc is synchronous (urllib), so each call runs in a worker thread on a connection of its
own; at most `connections` calls are in flight. A connection is opened at its first use, not at
start-up (the app starts, and answers "the practice system is unavailable", while Odoo is down),
and dropped after a network failure, so the next call logs in again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any, TypeVar

from serving.practice.errors import PracticeError
from serving.practice.odoo.connection import OdooAddress, OdooConnection, OdooUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

OnCall = Callable[[str, str, str, float], None]
"""Told of every call: (model, method, outcome, seconds). The outcome is "ok" or the practice
error's code ("practice_unavailable", "invalid_request", ...); a log-in is ("common", "login")."""
Connect = Callable[[OdooAddress, float], OdooConnection]


def _connect(address: OdooAddress, timeout: float) -> OdooConnection:
    return OdooConnection(address, timeout=timeout)


class OdooClient:
    """Calls `execute_kw` on the clinic's Odoo; Odoo's failures arrive as practice errors."""

    def __init__(
        self,
        address: OdooAddress,
        *,
        timeout: float,
        connections: int = 4,
        on_call: OnCall | None = None,
        connect: Connect = _connect,
    ) -> None:
        if connections < 1:
            raise ValueError("an Odoo client needs at least one connection")
        self.address = address
        self.timeout = timeout
        """Seconds each call may take before it is given up."""
        self._on_call = on_call
        self._connect = connect
        self._idle: list[OdooConnection | None] = [None] * connections
        self._slots: asyncio.Semaphore | None = None
        self._size = connections

    async def call(
        self,
        model: str,
        method: str,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """`execute_kw(model, method, args, kwargs)` on a free connection."""
        async with self._semaphore():
            connection = self._idle.pop()
            try:
                if connection is None:
                    connection = await self._timed("common", "login", self._open)
                opened = connection
                return await self._timed(
                    model, method, lambda: opened.call(model, method, args, kwargs)
                )
            except (OdooUnreachable, asyncio.CancelledError):
                # Broken, or still in use by a worker thread that was not waited for.
                connection = None
                raise
            finally:
                self._idle.append(connection)

    async def server_version(self) -> str:
        """The server's version string, e.g. "17.0-20240709" (logs in when not yet)."""
        async with self._semaphore():
            connection = self._idle.pop()
            try:
                if connection is None:
                    connection = await self._timed("common", "login", self._open)
                return connection.server_version
            finally:
                self._idle.append(connection)

    def _semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the event loop that will wait on it.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        return self._slots

    def _open(self) -> OdooConnection:
        return self._connect(self.address, self.timeout)

    async def _timed(self, model: str, method: str, run: Callable[[], T]) -> T:
        started = perf_counter()
        outcome = "ok"
        try:
            return await asyncio.to_thread(run)
        except PracticeError as error:
            outcome = error.code
            raise
        finally:
            self._report(model, method, outcome, perf_counter() - started)

    def _report(self, model: str, method: str, outcome: str, seconds: float) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(model, method, outcome, seconds)
        except Exception:  # a broken metrics hook must not fail a patient's request
            log.exception("the Odoo call hook failed")
