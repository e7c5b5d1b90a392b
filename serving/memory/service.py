"""`Memory`: the assistant's one handle on the memory store.

- Writing never fails a turn, and a turn does not wait for it: `remember_later` queues the
  turn's facts for one writer task per process, which writes them in order after the reply is
  on its way. The graph is rebuilt from the app database (`dental memory rebuild`), so a write
  lost to a crash or a full queue is repaired there.
- Reading gives nothing rather than an error, and it sees this process's own writes: a read
  for a patient with facts still queued waits for the writer first. Within one conversation a
  patient's memory is reused for RECALL_SECONDS, and read afresh once an outcome of theirs (a
  booking, an escalation) was written: within a conversation, what changes memory is an
  outcome, not another message. A new conversation always reads afresh.
- The clinic-wide pattern statistics are read at most every MEMORY_STATS_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from serving.db.types import utcnow
from serving.memory.recall import recall
from serving.memory.records import PatientMemory, PatternOutcomes, TurnFacts
from serving.memory.store import MemoryStore

log = logging.getLogger(__name__)

STATS_WINDOW = timedelta(days=90)
"""Pattern statistics look at conversations of the last 90 days."""
IDLE_AFTER = timedelta(hours=24)
"""A conversation quiet this long with no outcome after a pattern counts as dropped."""
RECALL_SECONDS = 60.0
"""How long a patient's recalled memory is reused in one conversation when no outcome of
theirs was queued."""
RECALLED_KEPT = 5000
"""Conversations whose recalled memory is kept at most; beyond, the reuse starts over."""
WRITE_QUEUE = 1000
"""Turns' facts waiting for the writer; beyond this a write is dropped (and counted)."""
CLOSE_SECONDS = 5.0
"""How long closing (or an erasure) waits for queued writes."""
READ_WAIT_SECONDS = 1.0
"""How long a read waits for the patient's own queued writes before reading without them."""
BACKOFF_SECONDS = 30.0
"""After a failed read the store is not asked again for this long: a store that is down
must not add its timeout to every turn."""


class Memory:
    def __init__(
        self,
        store: MemoryStore,
        *,
        timezone: str,
        stats_seconds: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self._tz = ZoneInfo(timezone)
        self._stats_seconds = stats_seconds
        self._now = clock
        self._on_failure = on_failure
        self._stats: list[PatternOutcomes] | None = None
        self._stats_at: datetime | None = None
        self._recalled: dict[tuple[int, str], tuple[PatientMemory, datetime]] = {}
        """(patient, conversation) -> what was recalled, and when."""
        self._queued: Counter[int] = Counter()
        """Patients with facts in the queue: a read of theirs waits for the writer."""
        self._queue: asyncio.Queue[TurnFacts] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._written: asyncio.Condition | None = None
        """Notified whenever a queued write is done (a read waits on the patient's own)."""
        self._stats_lock: asyncio.Lock | None = None
        self._reads_down_until: datetime | None = None

    async def remember(self, facts: TurnFacts) -> bool:
        """Write `facts` now; False (logged, counted) when the store failed."""
        try:
            await self.store.record(facts)
        except Exception as error:  # a turn must never fail on its memory
            self._failed("write", error)
            return False
        finally:
            self._forget_recalled(facts)
        return True

    def remember_later(self, facts: TurnFacts) -> None:
        """Queue `facts` for the writer task (started with the first); never blocks."""
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=WRITE_QUEUE)
            self._written = asyncio.Condition()
            self._writer = asyncio.create_task(self._write_queued(self._queue, self._written))
        try:
            self._queue.put_nowait(facts)
        except asyncio.QueueFull:
            log.warning("memory write dropped: %d turns already wait to be written", WRITE_QUEUE)
            if self._on_failure is not None:
                self._on_failure("write")
            return
        if facts.patient_id is not None:
            self._queued[facts.patient_id] += 1
        self._forget_recalled(facts)

    async def settled(self, within: float | None = None) -> bool:
        """Wait until every queued write is done (tests, evaluations, shutdown, an erasure),
        for at most `within` seconds; False when that ran out."""
        if self._queue is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), within)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Finish the queued writes (for at most CLOSE_SECONDS), then close the store."""
        if self._writer is not None:
            await self.settled(CLOSE_SECONDS)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._queue = self._writer = self._written = None
        await self.store.close()

    async def _write_queued(
        self, queue: asyncio.Queue[TurnFacts], written: asyncio.Condition
    ) -> None:
        while True:
            facts = await queue.get()
            try:
                await self.remember(facts)
            finally:
                if facts.patient_id is not None:
                    self._queued[facts.patient_id] -= 1
                    if self._queued[facts.patient_id] <= 0:
                        del self._queued[facts.patient_id]
                queue.task_done()
                async with written:
                    written.notify_all()

    async def _own_writes_done(self, patient_id: int) -> None:
        """Wait (at most READ_WAIT_SECONDS) for the patient's queued writes, not the others'."""
        written = self._written
        if written is None or patient_id not in self._queued:
            return
        async with written:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    written.wait_for(lambda: patient_id not in self._queued), READ_WAIT_SECONDS
                )

    async def recall(
        self, patient_id: int, *, conversation_id: str | None = None
    ) -> PatientMemory | None:
        """What is remembered about the patient, reused within `conversation_id` (None: read
        from the store); None when the store could not say."""
        now = self._now()
        key = (patient_id, conversation_id) if conversation_id is not None else None
        cached = self._recalled.get(key) if key is not None else None
        if cached is not None and now - cached[1] < timedelta(seconds=RECALL_SECONDS):
            return cached[0]
        if self._reads_down_until is not None and now < self._reads_down_until:
            return None  # the store failed a moment ago: no memory this turn, no wait
        # Read what this process already queued for them: the turn just answered, its outcome.
        await self._own_writes_done(patient_id)
        try:
            history = await self.store.history(patient_id)
        except Exception as error:  # the turn goes on without memory
            self._failed("read", error)
            self._reads_down_until = now + timedelta(seconds=BACKOFF_SECONDS)
            return None
        self._reads_down_until = None
        memory = recall(history, tz=self._tz)
        if key is not None and patient_id not in self._queued:
            if len(self._recalled) >= RECALLED_KEPT:
                self._recalled.clear()
            self._recalled[key] = (memory, now)
        return memory

    def forget(self, patient_id: int) -> None:
        """Drop what this process reuses about the patient (after an erasure)."""
        self._forget_patient(patient_id)
        self.forget_stats()

    def forget_all(self) -> None:
        """Drop everything reused (after a rebuild)."""
        self._recalled.clear()
        self.forget_stats()

    def _forget_recalled(self, facts: TurnFacts) -> None:
        if facts.patient_id is not None and facts.outcomes:
            self._forget_patient(facts.patient_id)

    def _forget_patient(self, patient_id: int) -> None:
        for key in [k for k in self._recalled if k[0] == patient_id]:
            del self._recalled[key]

    async def pattern_stats(self) -> list[PatternOutcomes]:
        """Clinic-wide outcomes per pattern, reused for MEMORY_STATS_SECONDS; the last known
        figures (or none) when the store fails."""
        if self._fresh_stats():
            return self._stats or []
        if self._stats_lock is None:
            self._stats_lock = asyncio.Lock()
        async with self._stats_lock:  # concurrent turns share one query
            if self._fresh_stats():
                return self._stats or []
            now = self._now()
            try:
                self._stats = await self.store.pattern_outcomes(
                    since=now - STATS_WINDOW, idle_before=now - IDLE_AFTER
                )
            except Exception as error:  # statistics are advice, never a failure
                self._failed("stats", error)
            # After a failure too: the last known figures serve until the next try is due.
            self._stats_at = now
            return self._stats or []

    def _fresh_stats(self) -> bool:
        return self._stats_at is not None and self._now() - self._stats_at < timedelta(
            seconds=self._stats_seconds
        )

    def forget_stats(self) -> None:
        """Read the statistics afresh next time (after an erasure or a rebuild)."""
        self._stats = self._stats_at = None

    def _failed(self, what: str, error: Exception) -> None:
        # The error's class only: a driver's message may quote query parameters.
        log.warning("memory %s failed: %s", what, type(error).__name__)
        if self._on_failure is not None:
            self._on_failure(what)
