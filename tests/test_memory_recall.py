"""What is recalled from a patient's history (serving/memory/recall.py), and `Memory`
(serving/memory/service.py) over the SQL store: statistics reused for MEMORY_STATS_SECONDS, a
failing store never failing the caller."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from serving.db.engine import Database
from serving.memory.factory import create_memory_store
from serving.memory.recall import recall
from serving.memory.records import (
    ConversationSummary,
    GraphExport,
    MessageFacts,
    OutcomeFacts,
    OutcomeKind,
    PatientHistory,
    PatientMemory,
    PatternOutcomes,
    TurnFacts,
)
from serving.memory.service import Memory
from serving.memory.sql_store import SqlMemoryStore
from tests.conftest import make_settings

CLINIC = "Asia/Jerusalem"
TZ = ZoneInfo(CLINIC)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def visit(
    n: int,
    *,
    provider_id: int,
    local_hour: int,
    kind: OutcomeKind = "booked",
    appointment: int | None = None,
) -> OutcomeFacts:
    """The n-th outcome (later n, later `at`): a visit at `local_hour` clinic time."""
    return OutcomeFacts(
        id=f"{kind}:{n}",
        kind=kind,
        at=T0 + timedelta(days=n),
        message_id=n,
        provider_id=provider_id,
        provider_name=f"Dr. {provider_id}",
        visit_at=datetime(2026, 4, n, local_hour, 0, tzinfo=TZ),
        appointment_id=appointment,
    )


def conversation(id: str, day: int, language: str = "he") -> ConversationSummary:
    moment = T0 + timedelta(days=day)
    return ConversationSummary(
        id=id, channel="telegram", language=language, started_at=moment, last_at=moment
    )


def test_two_agreeing_visits_make_a_preference() -> None:
    escalation = OutcomeFacts(
        id="escalation:e1", kind="escalated", at=T0, message_id=1, escalation_id="e1"
    )
    history = PatientHistory(
        patient_id=7,
        conversations=(conversation("old", 1, "en"), conversation("new", 5, "he")),
        outcomes=(
            escalation,
            visit(2, provider_id=3, local_hour=9),
            visit(3, provider_id=4, local_hour=17),
            visit(4, provider_id=3, local_hour=11, kind="moved"),
            visit(5, provider_id=4, local_hour=10, kind="cancelled"),
        ),
    )
    memory = recall(history, tz=TZ)
    assert memory == PatientMemory(
        patient_id=7,
        conversations=2,
        last_seen=T0 + timedelta(days=5),
        language="he",
        preferred_provider_id=3,
        preferred_provider_name="Dr. 3",
        preferred_part_of_day="morning",
        recent_outcomes=(
            history.outcomes[4],
            history.outcomes[3],
            history.outcomes[2],
            history.outcomes[1],
            escalation,
        ),
        open_escalations=("e1",),
    )
    assert memory.returning


def test_one_visit_or_a_tie_of_ones_teaches_nothing() -> None:
    history = PatientHistory(
        patient_id=7,
        conversations=(conversation("only", 1),),
        outcomes=(visit(1, provider_id=3, local_hour=9), visit(2, provider_id=4, local_hour=14)),
    )
    memory = recall(history, tz=TZ)
    assert memory.preferred_provider_id is None and memory.preferred_part_of_day is None
    assert memory.returning


def test_a_tie_goes_to_the_most_recent_visit() -> None:
    history = PatientHistory(
        patient_id=7,
        outcomes=tuple(
            visit(n, provider_id=3 if n % 2 else 4, local_hour=9 if n % 2 else 14)
            for n in range(1, 5)
        ),
    )
    memory = recall(history, tz=TZ)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (4, "afternoon")


def test_a_booking_and_its_move_are_one_visit_where_it_was_moved_to() -> None:
    history = PatientHistory(
        patient_id=7,
        outcomes=(
            visit(1, provider_id=3, local_hour=9, appointment=70),
            visit(2, provider_id=3, local_hour=10, kind="moved", appointment=70),
        ),
    )
    memory = recall(history, tz=TZ)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (None, None)

    moved_again = PatientHistory(
        patient_id=7,
        outcomes=(
            *history.outcomes,
            visit(3, provider_id=4, local_hour=15, kind="moved", appointment=70),
            visit(4, provider_id=4, local_hour=14, appointment=71),
        ),
    )
    memory = recall(moved_again, tz=TZ)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (4, "afternoon")


def test_a_cancelled_appointment_is_no_visit() -> None:
    history = PatientHistory(
        patient_id=7,
        outcomes=(
            visit(1, provider_id=3, local_hour=9, appointment=70),
            visit(2, provider_id=3, local_hour=9, kind="cancelled", appointment=70),
            visit(3, provider_id=3, local_hour=10, appointment=71),
        ),
    )
    memory = recall(history, tz=TZ)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (None, None)
    assert len(memory.recent_outcomes) == 3  # still recalled as what happened


def test_outcomes_naming_no_appointment_are_a_visit_each() -> None:
    history = PatientHistory(
        patient_id=7,
        outcomes=(
            visit(1, provider_id=3, local_hour=9),
            visit(2, provider_id=3, local_hour=10, kind="moved"),
        ),
    )
    memory = recall(history, tz=TZ)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (3, "morning")


def test_a_closed_escalation_is_not_open() -> None:
    closed = OutcomeFacts(
        id="escalation:e1",
        kind="escalated",
        at=T0,
        message_id=1,
        escalation_id="e1",
        resolved_at=T0 + timedelta(hours=1),
        resolved_by="Dr. Levi",
    )
    assert recall(PatientHistory(7, outcomes=(closed,)), tz=TZ).open_escalations == ()
    assert not recall(PatientHistory(7, conversations=(conversation("c", 1),)), tz=TZ).returning


async def test_the_settings_choose_the_store(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    database = Database(url)
    try:
        store = create_memory_store(make_settings(url), database)
        assert isinstance(store, SqlMemoryStore) and store.kind == "sql"
        with pytest.raises(ValueError, match="MEMORY_BACKEND=neo4j"):
            create_memory_store(make_settings(url, memory_backend="neo4j"), database)
    finally:
        await database.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(days=10)

    def __call__(self) -> datetime:
        return self.now


def turn(conversation_id: str, patient_id: int, message_id: int, at: datetime) -> TurnFacts:
    return TurnFacts(
        conversation_id=conversation_id,
        channel="web",
        patient_id=patient_id,
        language="en",
        at=at,
        messages=(
            MessageFacts(id=message_id, role="patient", at=at, language="en", pattern="pain"),
        ),
        outcomes=(
            OutcomeFacts(
                id=f"booked:{message_id}",
                kind="booked",
                at=at,
                message_id=message_id,
                provider_id=3,
                provider_name="Dr. 3",
                visit_at=at + timedelta(days=2),
            ),
        ),
    )


async def test_memory_remembers_recalls_and_reuses_its_statistics(database: Database) -> None:
    clock = Clock()
    memory = Memory(SqlMemoryStore(database), timezone=CLINIC, stats_seconds=300, clock=clock)
    assert await memory.remember(turn("c1", 7, 1, clock.now - timedelta(days=3)))
    assert await memory.remember(turn("c2", 7, 2, clock.now - timedelta(days=2)))

    recalled = await memory.recall(7)
    assert recalled is not None
    assert (recalled.conversations, recalled.preferred_provider_id) == (2, 3)
    assert [o.id for o in recalled.recent_outcomes] == ["booked:2", "booked:1"]

    first = [PatternOutcomes("pain", conversations=2, booked=2, escalated=0, dropped=0)]
    assert await memory.pattern_stats() == first
    await memory.remember(turn("c3", 8, 3, clock.now - timedelta(days=1)))
    clock.now += timedelta(seconds=299)
    assert await memory.pattern_stats() == first
    clock.now += timedelta(seconds=1)
    assert await memory.pattern_stats() == [
        PatternOutcomes("pain", conversations=3, booked=3, escalated=0, dropped=0)
    ]
    await memory.remember(turn("c4", 9, 4, clock.now))
    memory.forget_stats()
    assert (await memory.pattern_stats())[0].conversations == 4


class BrokenStore:
    """A store whose every call fails, its error quoting patient data as a driver might."""

    kind = "broken"
    fail = True

    def _raise(self) -> None:
        if self.fail:
            raise ConnectionError("patient 7 in conversation c-secret")

    async def prepare(self) -> None:
        self._raise()

    async def record(self, facts: TurnFacts) -> None:
        self._raise()

    async def history(self, patient_id: int, *, limit: int = 50) -> PatientHistory:
        self._raise()
        return PatientHistory(patient_id)

    async def pattern_outcomes(
        self, *, since: datetime, idle_before: datetime
    ) -> list[PatternOutcomes]:
        self._raise()
        return [PatternOutcomes("pain", conversations=1, booked=1, escalated=0, dropped=0)]

    async def export(self, patient_id: int) -> GraphExport:
        raise NotImplementedError

    async def erase(self, patient_id: int, conversation_ids: Sequence[str] = ()) -> int:
        raise NotImplementedError

    async def clear(self) -> None:
        raise NotImplementedError

    async def dump(self) -> GraphExport:
        raise NotImplementedError

    async def load(self, graph: GraphExport) -> None:
        raise NotImplementedError

    async def counts(self) -> dict[str, int]:
        raise NotImplementedError

    async def close(self) -> None:
        pass


async def test_a_failing_store_never_fails_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    store = BrokenStore()
    failures: list[str] = []
    clock = Clock()
    memory = Memory(store, timezone=CLINIC, clock=clock, on_failure=failures.append)
    caplog.set_level(logging.WARNING, logger="serving.memory.service")

    assert await memory.remember(turn("c-secret", 7, 1, T0)) is False
    assert await memory.recall(7) is None
    assert await memory.pattern_stats() == []

    store.fail = False
    assert await memory.recall(7) is None, "a failed store is not asked again at once"
    clock.now += timedelta(seconds=31)
    assert await memory.recall(7) is not None, "and is asked again after the back-off"
    assert await memory.pattern_stats() == [], "nor are the statistics before they are due"
    clock.now += timedelta(seconds=300)
    known = await memory.pattern_stats()
    assert known[0].pattern == "pain"
    store.fail = True
    clock.now += timedelta(days=1)
    assert await memory.pattern_stats() == known  # the last known figures

    assert failures == ["write", "read", "stats", "stats"]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "serving.memory.service" and r.levelno == logging.WARNING
    ]
    assert warnings == [
        "memory write failed: ConnectionError",
        "memory read failed: ConnectionError",
        "memory stats failed: ConnectionError",
        "memory stats failed: ConnectionError",
    ]


async def test_queued_writes_follow_the_reply_in_order_and_settle(database: Database) -> None:
    clock = Clock()
    memory = Memory(SqlMemoryStore(database), timezone=CLINIC, clock=clock)
    for n in range(1, 6):
        memory.remember_later(turn(f"q{n}", 7, n, clock.now - timedelta(days=6 - n)))
    await memory.settled()

    history = await memory.store.history(7)
    assert [c.id for c in history.conversations] == ["q5", "q4", "q3", "q2", "q1"]
    await memory.close()
    memory.remember_later(turn("q6", 7, 6, clock.now))  # a closed memory starts a new writer
    await memory.settled()
    assert len((await memory.store.history(7)).conversations) == 6
    await memory.close()


async def test_recall_is_reused_within_a_conversation_until_an_outcome(
    database: Database,
) -> None:
    clock = Clock()
    store = SqlMemoryStore(database)
    memory = Memory(store, timezone=CLINIC, clock=clock)
    await store.record(turn("r1", 7, 1, clock.now - timedelta(days=3)))
    first = await memory.recall(7, conversation_id="now")
    assert first is not None and first.conversations == 1

    await store.record(turn("r2", 7, 2, clock.now - timedelta(days=2)))  # another process
    assert await memory.recall(7, conversation_id="now") == first, "reused in the conversation"
    assert (await memory.recall(7, conversation_id="new")).conversations == 2  # type: ignore[union-attr]
    assert (await memory.recall(7)).conversations == 2  # type: ignore[union-attr]

    memory.remember_later(turn("r3", 7, 3, clock.now - timedelta(days=1)))  # an outcome queued
    after = await memory.recall(7, conversation_id="now")
    assert after is not None and after.conversations == 3, "read afresh, after the write"

    await store.record(turn("r4", 7, 4, clock.now))
    clock.now += timedelta(seconds=61)
    assert (await memory.recall(7, conversation_id="now")).conversations == 4  # type: ignore[union-attr]
    await memory.close()


async def test_a_full_write_queue_drops_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.memory.service as service

    monkeypatch.setattr(service, "WRITE_QUEUE", 2)
    store = BrokenStore()
    store.fail = False
    failures: list[str] = []
    memory = Memory(store, timezone=CLINIC, on_failure=failures.append)
    for n in range(3):  # the writer has not run yet: the queue holds two
        memory.remember_later(turn(f"f{n}", 7, n + 1, T0))
    assert failures == ["write"]
    await memory.settled()
    await memory.close()
