"""Keeping a lease held in the database while work goes on.

Leases here are short (seconds), so a process that dies loses them within seconds and another
takes its work over; a process that is alive keeps its lease by renewing it while it works,
however long the work takes (a turn waiting a minute on a model keeps its conversation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

logger = logging.getLogger(__name__)


@asynccontextmanager
async def renewed(
    renew: Callable[[], Awaitable[bool]], *, every: timedelta, name: str
) -> AsyncIterator[asyncio.Event]:
    """Run the body while `renew` is called every `every` (a third of the lease, so two
    renewals may fail before it expires). The event yielded is set once a renewal finds the
    lease lost (it expired and was taken over). A renewal that raises (the database briefly
    unreachable) is logged and tried again at the next beat: the lease may still be ours."""
    lost = asyncio.Event()

    async def beat() -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                if not await renew():
                    logger.warning("%s lease lost to another process", name)
                    lost.set()
                    return
            except Exception as error:
                logger.warning("%s lease not renewed", name, extra={"error": type(error).__name__})

    heartbeat = asyncio.create_task(beat(), name=f"{name}-lease")
    try:
        yield lost
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
