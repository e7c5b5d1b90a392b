"""Processing the inbox: each chat's updates one at a time in `update_id` order, up to
`concurrency` chats at once, under the chat's lease (renewed while working).

An update is planned once (the handler's calls are saved as its outbox before anything is
sent) and each call is marked sent as it goes, so a retry after a crash or an error resumes
where it stopped: nothing is answered twice. A secret call (a patient's data link) stays in
the outbox only until it is sent: its mark replaces it with a copy without the text. An
update is dead-lettered (status `failed`, its reason kept, an apology as its outbox) at once
when it cannot be parsed, or when its last attempt fails; so one bad update never blocks its
chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from serving.channels.telegram.handlers import UpdateHandler
from serving.channels.telegram.inbox import Inbox, QueuedUpdate
from serving.channels.telegram.outbound import Outgoing, Sender
from serving.channels.telegram.updates import UnreadableUpdate
from serving.db.leases import renewed

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)
"""How long a chat stays with a replica that stopped renewing (it renews every third of it):
a replica killed mid-chat holds its chats at most this long."""
STOP_GRACE_SECONDS = 60.0
"""How long a stopping replica lets the chats it serves finish their current update."""
MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(seconds=5)
PRUNE_EVERY_SECONDS = 3600.0
"""How often a replica deletes updates past their retention (docs/TELEGRAM.md)."""
DeadLetterCounter = Callable[[str], None]
"""Called once per dead-lettered update with its cause: `unreadable` or `attempts`."""
POLL_SECONDS = 0.5
"""How often the inbox is looked at without a wake-up (other replicas' updates, expired
leases); an update received by this replica wakes the worker at once."""


class ChatWorker:
    def __init__(
        self,
        inbox: Inbox,
        handler: UpdateHandler,
        sender: Sender,
        *,
        concurrency: int,
        lease: timedelta = LEASE,
        poll_seconds: float = POLL_SECONDS,
        retry_delay: timedelta = RETRY_DELAY,
        retention: timedelta | None = None,
        count_dead_letter: DeadLetterCounter | None = None,
    ) -> None:
        self._inbox = inbox
        self._handler = handler
        self._sender = sender
        self._concurrency = concurrency
        self._lease = lease
        self._poll_seconds = poll_seconds
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._dispatching = asyncio.Lock()
        self._active: dict[int, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._retention = retention
        self._pruner: asyncio.Task[None] | None = None
        self._count_dead_letter = count_dead_letter

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="telegram-worker")
        if self._pruner is None and self._retention is not None:
            self._pruner = asyncio.create_task(
                self._prune_forever(self._retention), name="telegram-retention"
            )

    async def stop(self) -> None:
        """Stop taking chats; chats being served finish their current update."""
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._active:
            await asyncio.wait(list(self._active.values()), timeout=STOP_GRACE_SECONDS)
        for task in list(self._active.values()):
            task.cancel()

    async def drain(self) -> None:
        """Serve until no chat has pending work (polling once, and tests)."""
        while True:
            await self.dispatch()
            if self._active:
                await asyncio.wait(list(self._active.values()))
                continue
            if not await self._inbox.ready_chats(limit=1, exclude=set()):
                return

    async def dispatch(self) -> None:
        """Claim ready chats up to the concurrency limit and start serving them."""
        async with self._dispatching:  # the loop and `drain` must not claim side by side
            free = self._concurrency - len(self._active)
            if free <= 0:
                return
            for chat_id in await self._inbox.ready_chats(limit=free, exclude=set(self._active)):
                if await self._inbox.claim(chat_id, self._lease):
                    self._active[chat_id] = asyncio.create_task(self._serve(chat_id))

    async def _run(self) -> None:
        while True:
            try:
                await self.dispatch()
            except Exception as error:  # the database may be briefly unreachable
                logger.error("telegram inbox unavailable", extra={"error": type(error).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()

    async def _prune_forever(self, retention: timedelta) -> None:
        """Delete answered updates past `retention`, now and every hour. Every replica does
        it; deleting what another replica already deleted is harmless."""
        while True:
            try:
                deleted = await self._inbox.prune(retention)
                if deleted:
                    logger.info("telegram updates past retention deleted: %d", deleted)
            except Exception as error:  # the database may be briefly unreachable
                logger.error(
                    "telegram retention not applied", extra={"error": type(error).__name__}
                )
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def _serve(self, chat_id: int) -> None:
        retry_after: timedelta | None = None
        try:
            async with renewed(
                lambda: self._inbox.renew(chat_id, self._lease),
                every=self._lease / 3,
                name="telegram chat",
            ) as lost:
                while not lost.is_set():
                    item = await self._inbox.next_update(chat_id)
                    if item is None:
                        break
                    if not await self._process(item):
                        retry_after = self._retry_delay
                        break
        except Exception as error:
            logger.error("telegram chat not served", extra={"error": type(error).__name__})
            retry_after = self._retry_delay
        finally:
            with contextlib.suppress(Exception):
                await self._inbox.release(chat_id, retry_after=retry_after)
            self._active.pop(chat_id, None)
            self._wake.set()  # updates that arrived meanwhile

    async def _process(self, item: QueuedUpdate) -> bool:
        """Plan (once), send what is not sent yet, finish; False when it must be retried."""
        planned = item.outbox is not None
        try:
            outbox = item.outbox
            if outbox is None:
                if item.attempts > MAX_ATTEMPTS:
                    reason = (
                        f"ProcessStopped: none of {MAX_ATTEMPTS} attempts finished; the process "
                        "stopped during the last one"
                    )
                    return await self._give_up(item, reason, cause="attempts")
                try:
                    calls = await self._handler.plan(item.payload)
                except UnreadableUpdate as unreadable:  # it never will be: no retries
                    return await self._give_up(item, unreadable.reason, cause="unreadable")
                outbox = [call.to_json() for call in calls]
                await self._inbox.save_outbox(item.update_id, outbox)
                planned = True
            for index in range(item.sent, len(outbox)):
                call = Outgoing.from_json(outbox[index])
                await self._sender.deliver(call, update_id=item.update_id)
                if call.secret:  # the mark and the secret's removal commit together
                    outbox[index] = call.sent_copy().to_json()
                    await self._inbox.mark_sent(item.update_id, index + 1, outbox=outbox)
                else:
                    await self._inbox.mark_sent(item.update_id, index + 1)
            status = "failed" if item.error is not None else "done" if outbox else "ignored"
            await self._inbox.finish(item.update_id, status)
            return True
        except Exception as error:
            logger.error(
                "telegram update not processed",
                extra={
                    "update_id": item.update_id,
                    "attempt": item.attempts,
                    "error": type(error).__name__,
                },
            )
            if not planned and item.attempts >= MAX_ATTEMPTS:  # a planned reply is resumed
                reason = f"{type(error).__name__}: processing failed {item.attempts} times"
                return await self._give_up(item, reason, cause="attempts")
            return False

    async def _give_up(self, item: QueuedUpdate, reason: str, *, cause: str) -> bool:
        """Dead-letter the update: the reason kept and the apology saved as its outbox (read
        from the raw payload, never parsed), then sent like any outbox."""
        logger.error(
            "telegram update dead-lettered",
            extra={"update_id": item.update_id, "attempt": item.attempts, "reason": reason},
        )
        try:
            apology = [call.to_json() for call in await self._handler.apology(item.payload)]
            await self._inbox.dead_letter(item.update_id, reason=reason, apology=apology)
        except Exception as error:
            logger.error("telegram dead letter not stored", extra={"error": type(error).__name__})
            return False
        if self._count_dead_letter is not None:
            self._count_dead_letter(cause)
        return await self._process(replace(item, outbox=apology, sent=0, error=reason))
