"""`Memory`: the assistant's one handle on the memory store. Writing never fails a turn (the
graph is rebuilt from the app database, so a lost write is repaired by `dental memory
rebuild`); reading gives nothing rather than an error; the clinic-wide pattern statistics are
read at most every MEMORY_STATS_SECONDS."""

from __future__ import annotations

import logging
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

    async def remember(self, facts: TurnFacts) -> bool:
        """Write `facts`; False (logged, counted) when the store failed."""
        try:
            await self.store.record(facts)
        except Exception as error:  # a turn must never fail on its memory
            self._failed("write", error)
            return False
        return True

    async def recall(self, patient_id: int) -> PatientMemory | None:
        """What is remembered about the patient; None when the store could not say."""
        try:
            history = await self.store.history(patient_id)
        except Exception as error:  # the turn goes on without memory
            self._failed("read", error)
            return None
        return recall(history, tz=self._tz)

    async def pattern_stats(self) -> list[PatternOutcomes]:
        """Clinic-wide outcomes per pattern, reused for MEMORY_STATS_SECONDS; the last known
        figures (or none) when the store fails."""
        now = self._now()
        fresh = self._stats_at is not None and now - self._stats_at < timedelta(
            seconds=self._stats_seconds
        )
        if self._stats is not None and fresh:
            return self._stats
        try:
            self._stats = await self.store.pattern_outcomes(
                since=now - STATS_WINDOW, idle_before=now - IDLE_AFTER
            )
        except Exception as error:  # statistics are advice, never a failure
            self._failed("stats", error)
            return self._stats or []
        self._stats_at = now
        return self._stats

    def forget_stats(self) -> None:
        """Read the statistics afresh next time (after an erasure or a rebuild)."""
        self._stats = self._stats_at = None

    def _failed(self, what: str, error: Exception) -> None:
        # The error's class only: a driver's message may quote query parameters.
        log.warning("memory %s failed: %s", what, type(error).__name__)
        if self._on_failure is not None:
            self._on_failure(what)
