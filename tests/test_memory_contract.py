"""The one contract of every memory store (serving/memory/store.py), run on each of them
(tests/memory_stores.py): the same facts give the same answers, exports and dumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from serving.memory.recall import recall
from serving.memory.records import (
    LABELS,
    ConversationSummary,
    GraphExport,
    MessageFacts,
    MessageRole,
    OutcomeFacts,
    PatientHistory,
    PatternOutcomes,
    TurnFacts,
)
from serving.memory.store import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JERUSALEM = ZoneInfo("Asia/Jerusalem")
EMPTY = {label: 0 for label in LABELS}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def message(
    id: int,
    minutes: float,
    *,
    role: MessageRole = "patient",
    pattern: str | None = None,
    intent: str | None = None,
    urgency: str | None = None,
) -> MessageFacts:
    return MessageFacts(
        id=id,
        role=role,
        at=at(minutes),
        language="en",
        pattern=pattern,
        intent=intent,
        urgency=urgency,
    )


def booked(
    message_id: int,
    minutes: float,
    *,
    provider_id: int = 3,
    kind: str = "booked",
    appointment: int | None = None,
    visit_at: datetime = datetime(2026, 3, 10, 10, 30, tzinfo=JERUSALEM),
) -> OutcomeFacts:
    return OutcomeFacts(
        id=f"{kind}:{message_id}",
        kind=kind,  # type: ignore[arg-type]
        at=at(minutes),
        message_id=message_id,
        provider_id=provider_id,
        provider_name=f"Dr. {provider_id}",
        visit_at=visit_at,
        appointment_id=appointment,
    )


def escalated(message_id: int | None, minutes: float, **resolution: object) -> OutcomeFacts:
    return OutcomeFacts(
        id="escalation:e1",
        kind="escalated",
        at=at(minutes),
        message_id=message_id,
        escalation_id="e1",
        **resolution,  # type: ignore[arg-type]
    )


def turn(
    conversation: str = "c1",
    patient: int | None = 1,
    minutes: float = 0,
    *,
    messages: tuple[MessageFacts, ...] = (),
    outcomes: tuple[OutcomeFacts, ...] = (),
    language: str = "en",
) -> TurnFacts:
    return TurnFacts(
        conversation_id=conversation,
        channel="web",
        patient_id=patient,
        language=language,
        at=at(minutes),
        messages=messages,
        outcomes=outcomes,
    )


def edges_of(graph: GraphExport, kind: str) -> list[tuple[str, str]]:
    return [(e["from"], e["to"]) for e in graph.edges if e["type"] == kind]


def keys_of(graph: GraphExport, label: str) -> list[str]:
    return [n["key"] for n in graph.nodes if n["label"] == label]


A_TURN = turn(
    messages=(
        message(10, 0, pattern="toothache", intent="book", urgency="ROUTINE"),
        message(11, 1, role="assistant"),
    ),
    outcomes=(booked(10, 1, appointment=70),),
)


# -- record -------------------------------------------------------------------------------


async def test_a_new_store_counts_every_label_at_zero(memory_store: MemoryStore) -> None:
    assert await memory_store.counts() == EMPTY
    assert await memory_store.dump() == GraphExport()


async def test_the_same_facts_twice_leave_the_same_graph(memory_store: MemoryStore) -> None:
    await memory_store.prepare()
    await memory_store.record(A_TURN)
    once = await memory_store.dump()
    await memory_store.record(A_TURN)
    assert await memory_store.dump() == once
    assert await memory_store.counts() == {
        "Patient": 1,
        "Conversation": 1,
        "Message": 2,
        "Pattern": 1,
        "Outcome": 1,
        "Doctor": 1,
    }


async def test_a_conversation_spans_the_earliest_to_the_latest_facts(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(turn(minutes=30, messages=(message(20, 30),), language="he"))
    await memory_store.record(turn(minutes=5, messages=(message(10, 2),), language="en"))
    history = await memory_store.history(1)
    assert history.conversations == (
        ConversationSummary(
            id="c1", channel="web", language="he", started_at=at(2), last_at=at(30)
        ),
    )


async def test_facts_without_a_patient_make_no_patient(memory_store: MemoryStore) -> None:
    await memory_store.record(turn(patient=None, messages=(message(10, 0),)))
    graph = await memory_store.dump()
    assert keys_of(graph, "Patient") == [] and edges_of(graph, "HAD") == []
    assert keys_of(graph, "Conversation") == ["c1"]


def had_edges(graph: GraphExport) -> list[tuple[str, str, str]]:
    return [(e["from"], e["to"], e["properties"]["at"]) for e in graph.edges if e["type"] == "HAD"]


async def test_a_conversation_verified_later_is_had_from_its_start(
    memory_store: MemoryStore,
) -> None:
    """Written turn by turn (the patient verified at the second) or at once (a rebuild), the
    conversation gets the same HAD: dated from its first message."""
    await memory_store.record(turn(patient=None, messages=(message(10, 0),)))
    await memory_store.record(turn(patient=1, minutes=5, messages=(message(12, 5),)))
    await memory_store.record(turn(patient=None, minutes=9, messages=(message(14, 9),)))
    turn_by_turn = await memory_store.dump()
    assert had_edges(turn_by_turn) == [
        ("Patient:1", "Conversation:c1", "2026-03-02T09:00:00.000000+00:00")
    ]
    assert [c.id for c in (await memory_store.history(1)).conversations] == ["c1"]

    await memory_store.clear()
    await memory_store.record(
        turn(patient=1, messages=(message(10, 0), message(12, 5), message(14, 9)))
    )
    assert await memory_store.dump() == turn_by_turn


async def test_an_earlier_message_written_later_moves_the_had_with_the_start(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(turn(patient=1, minutes=5, messages=(message(12, 5),)))
    await memory_store.record(turn(patient=None, minutes=-3, messages=(message(10, -3),)))
    graph = await memory_store.dump()
    assert had_edges(graph) == [
        ("Patient:1", "Conversation:c1", "2026-03-02T08:57:00.000000+00:00")
    ]
    await memory_store.record(turn(patient=2, minutes=9, messages=(message(14, 9),)))
    assert had_edges(await memory_store.dump()) == [
        ("Patient:2", "Conversation:c1", "2026-03-02T08:57:00.000000+00:00")
    ]


async def test_a_conversation_bound_to_another_patient_moves_its_had(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(turn(patient=1, messages=(message(10, 0, pattern="pain"),)))
    await memory_store.record(turn(patient=2, minutes=4, messages=(message(11, 4),)))
    graph = await memory_store.dump()
    assert edges_of(graph, "HAD") == [("Patient:2", "Conversation:c1")]
    assert keys_of(graph, "Patient") == ["1", "2"]
    assert await memory_store.history(1) == PatientHistory(1)
    assert (await memory_store.history(2)).patterns == {"pain": 1}


async def test_a_new_outcome_of_an_unknown_message_writes_nothing(
    memory_store: MemoryStore,
) -> None:
    bad = turn(messages=(message(10, 0, pattern="pain"),), outcomes=(booked(99, 1),))
    with pytest.raises(ValueError):
        await memory_store.record(bad)
    assert await memory_store.counts() == EMPTY


async def test_a_new_outcome_without_a_message_writes_nothing(memory_store: MemoryStore) -> None:
    bad = turn(messages=(message(10, 0),), outcomes=(escalated(None, 1),))
    with pytest.raises(ValueError):
        await memory_store.record(bad)
    assert await memory_store.counts() == EMPTY


async def test_a_new_outcome_of_another_conversations_message_writes_nothing(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(turn("c2", patient=2, messages=(message(50, 0),)))
    await memory_store.record(turn("c1", messages=(message(10, 0),)))
    before = await memory_store.dump()
    with pytest.raises(ValueError):
        await memory_store.record(
            turn("c1", minutes=3, messages=(message(12, 3),), outcomes=(booked(50, 3),))
        )
    assert await memory_store.dump() == before


async def test_facts_with_a_naive_time_write_nothing(memory_store: MemoryStore) -> None:
    naive = MessageFacts(id=10, role="patient", at=datetime(2026, 3, 2, 9), language="en")
    with pytest.raises(ValueError):
        await memory_store.record(turn(messages=(naive,)))
    assert await memory_store.counts() == EMPTY


async def test_an_outcome_may_follow_a_message_recorded_before(memory_store: MemoryStore) -> None:
    await memory_store.record(turn(messages=(message(10, 0),)))
    await memory_store.record(turn(minutes=1, outcomes=(booked(10, 1),)))
    assert edges_of(await memory_store.dump(), "LED_TO") == [("Message:10", "Outcome:booked:10")]


async def test_a_closed_escalation_updates_its_outcome_and_keeps_its_led_to(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(turn(messages=(message(10, 0),), outcomes=(escalated(10, 1),)))
    closed = escalated(None, 1, resolved_at=at(60), resolved_by="Dr. Levi")
    await memory_store.record(turn(minutes=60, outcomes=(closed,)))
    # The open escalation written again (a rebuild of an older turn) closes nothing less.
    await memory_store.record(turn(messages=(message(10, 0),), outcomes=(escalated(10, 1),)))
    history = await memory_store.history(1)
    assert history.outcomes == (
        OutcomeFacts(
            id="escalation:e1",
            kind="escalated",
            at=at(1),
            message_id=10,
            escalation_id="e1",
            resolved_at=at(60),
            resolved_by="Dr. Levi",
        ),
    )
    graph = await memory_store.dump()
    assert edges_of(graph, "LED_TO") == [("Message:10", "Outcome:escalation:e1")]
    assert [e for e in graph.edges if e["type"] == "RESOLVED_BY"] == [
        {
            "type": "RESOLVED_BY",
            "from": "Outcome:escalation:e1",
            "to": "Doctor:dentist:Dr. Levi",
            "properties": {"at": "2026-03-02T10:00:00.000000+00:00"},
        }
    ]


async def test_a_visit_keeps_its_provider_and_time(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    (outcome,) = (await memory_store.history(1)).outcomes
    assert outcome == booked(10, 1, appointment=70)
    assert outcome.visit_at == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
    graph = await memory_store.dump()
    assert edges_of(graph, "WITH") == [("Outcome:booked:10", "Doctor:provider:3")]


async def test_a_visit_keeps_its_appointment_written_again_without_it(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(A_TURN)
    await memory_store.record(turn(minutes=1, outcomes=(booked(10, 1),)))
    (outcome,) = (await memory_store.history(1)).outcomes
    assert outcome.appointment_id == 70
    (node,) = [n for n in (await memory_store.export(1)).nodes if n["label"] == "Outcome"]
    assert node["properties"]["appointment_id"] == 70


async def test_recall_counts_a_booked_then_moved_appointment_once(
    memory_store: MemoryStore,
) -> None:
    """One appointment booked, moved, moved again: one visit, at its latest time and provider,
    teaches no preference; a cancelled one teaches nothing either."""
    morning = datetime(2026, 3, 10, 9, 0, tzinfo=JERUSALEM)
    await memory_store.record(
        turn(
            messages=(message(1, 0), message(2, 10), message(3, 20), message(4, 30)),
            outcomes=(
                booked(1, 1, appointment=70, visit_at=morning),
                booked(2, 11, kind="moved", appointment=70, visit_at=morning.replace(hour=10)),
                booked(
                    3,
                    21,
                    kind="moved",
                    provider_id=4,
                    appointment=70,
                    visit_at=morning.replace(hour=15),
                ),
                booked(4, 31, appointment=71, visit_at=morning.replace(hour=11)),
            ),
        )
    )
    await memory_store.record(
        turn(
            "c2",
            minutes=100,
            messages=(message(5, 100), message(6, 110)),
            outcomes=(
                booked(5, 101, appointment=72, visit_at=morning),
                booked(6, 111, kind="cancelled", appointment=72, visit_at=morning),
            ),
        )
    )
    memory = recall(await memory_store.history(1), tz=JERUSALEM)
    # Counted per outcome, Dr. 3 and the morning would have won four to one.
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (None, None)

    await memory_store.record(
        turn(
            "c3",
            minutes=200,
            messages=(message(7, 200),),
            outcomes=(
                booked(7, 201, provider_id=4, appointment=73, visit_at=morning.replace(hour=14)),
            ),
        )
    )
    memory = recall(await memory_store.history(1), tz=JERUSALEM)
    assert (memory.preferred_provider_id, memory.preferred_part_of_day) == (4, "afternoon")


async def test_a_pattern_and_a_doctor_are_one_node_for_everyone(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    await memory_store.record(
        turn(
            "c2",
            patient=2,
            messages=(message(20, 5, pattern="toothache"),),
            outcomes=(booked(20, 6),),
        )
    )
    graph = await memory_store.dump()
    assert keys_of(graph, "Pattern") == ["toothache"]
    assert keys_of(graph, "Doctor") == ["provider:3"]
    assert edges_of(graph, "MATCHED") == [
        ("Message:10", "Pattern:toothache"),
        ("Message:20", "Pattern:toothache"),
    ]


# -- history ------------------------------------------------------------------------------


async def three_conversations(store: MemoryStore) -> None:
    """c-old (an escalation), c-mid (a visit), c-new (a visit and a cancellation) of patient
    1, and c-other of patient 2."""
    await store.record(
        turn("c-old", messages=(message(1, 0, pattern="pain"),), outcomes=(escalated(1, 1),))
    )
    await store.record(
        turn(
            "c-new",
            minutes=200,
            messages=(message(5, 200, pattern="pain"), message(6, 210, pattern="booking")),
            outcomes=(
                booked(5, 201, appointment=71),
                booked(6, 211, kind="cancelled", appointment=71),
            ),
        )
    )
    await store.record(
        turn(
            "c-mid",
            minutes=100,
            messages=(
                message(3, 100, pattern="booking"),
                message(4, 101, role="assistant", pattern="booking"),
            ),
            outcomes=(booked(3, 101, provider_id=4),),
        )
    )
    await store.record(
        turn("c-other", patient=2, minutes=300, messages=(message(9, 300, pattern="pain"),))
    )


async def test_history_is_newest_first(memory_store: MemoryStore) -> None:
    await three_conversations(memory_store)
    history = await memory_store.history(1)
    assert [c.id for c in history.conversations] == ["c-new", "c-mid", "c-old"]
    assert [o.id for o in history.outcomes] == [
        "cancelled:6",
        "booked:5",
        "booked:3",
        "escalation:e1",
    ]
    assert history.patterns == {"booking": 2, "pain": 2}


async def test_history_keeps_the_latest_up_to_its_limit(memory_store: MemoryStore) -> None:
    await three_conversations(memory_store)
    history = await memory_store.history(1, limit=2)
    assert [c.id for c in history.conversations] == ["c-new", "c-mid"]
    assert [o.id for o in history.outcomes] == ["cancelled:6", "booked:5"]
    one = await memory_store.history(1, limit=1)
    assert [c.id for c in one.conversations] == ["c-new"]
    assert [o.id for o in one.outcomes] == ["cancelled:6"]


async def test_history_of_an_unknown_patient_is_empty(memory_store: MemoryStore) -> None:
    await three_conversations(memory_store)
    assert await memory_store.history(77) == PatientHistory(77)


# -- pattern_outcomes ---------------------------------------------------------------------

SINCE = at(0)
IDLE_BEFORE = at(1000)


async def stats(store: MemoryStore) -> dict[str, PatternOutcomes]:
    found = await store.pattern_outcomes(since=SINCE, idle_before=IDLE_BEFORE)
    assert [p.pattern for p in found] == sorted(p.pattern for p in found)
    return {p.pattern: p for p in found}


async def test_pattern_outcomes_count_bookings_and_escalations(memory_store: MemoryStore) -> None:
    await memory_store.record(
        turn("c1", messages=(message(1, 10, pattern="pain"),), outcomes=(booked(1, 11),))
    )
    await memory_store.record(
        turn(
            "c2",
            patient=2,
            messages=(message(2, 20, pattern="pain"),),
            outcomes=(escalated(2, 21),),
        )
    )
    await memory_store.record(
        turn(
            "c3",
            patient=None,
            messages=(message(3, 30, pattern="pain"),),
            outcomes=(booked(3, 31, kind="moved"),),
        )
    )
    await memory_store.record(
        turn(
            "c4",
            patient=None,
            messages=(message(4, 40, pattern="pain"),),
            outcomes=(booked(4, 41, kind="cancelled"),),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=4, booked=2, escalated=1, dropped=0)
    }


async def test_pattern_outcomes_count_a_conversation_once(memory_store: MemoryStore) -> None:
    await memory_store.record(
        turn(
            messages=(message(1, 10, pattern="pain"), message(2, 12, pattern="pain")),
            outcomes=(booked(1, 11), booked(2, 13)),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=1, booked=1, escalated=0, dropped=0)
    }


async def test_an_outcome_before_the_first_match_does_not_count(memory_store: MemoryStore) -> None:
    await memory_store.record(
        turn(
            messages=(message(1, 10), message(2, 20, pattern="pain")),
            outcomes=(booked(1, 11),),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=1, booked=0, escalated=0, dropped=1)
    }


async def test_a_match_before_since_does_not_count(memory_store: MemoryStore) -> None:
    await memory_store.record(
        turn("c1", messages=(message(1, -1, pattern="old"), message(2, 0, pattern="pain")))
    )
    await memory_store.record(
        turn(
            "c2",
            patient=2,
            messages=(message(3, -5, pattern="pain"), message(4, 50)),
            outcomes=(booked(4, 51),),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=1, booked=0, escalated=0, dropped=1)
    }


async def test_the_first_match_since_is_where_outcomes_count_from(
    memory_store: MemoryStore,
) -> None:
    """The match before `since` is not the first one: the outcome after it but before the
    match within the window does not count."""
    await memory_store.record(
        turn(
            messages=(
                message(1, -5, pattern="pain"),
                message(2, 5),
                message(3, 10, pattern="pain"),
            ),
            outcomes=(booked(2, 6),),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=1, booked=0, escalated=0, dropped=1)
    }


async def test_only_a_patient_message_matches(memory_store: MemoryStore) -> None:
    await memory_store.record(turn(messages=(message(1, 10, role="assistant", pattern="pain"),)))
    assert await stats(memory_store) == {}


async def test_a_quiet_conversation_drops_only_before_the_idle_limit(
    memory_store: MemoryStore,
) -> None:
    idle = (IDLE_BEFORE - T0).total_seconds() / 60
    await memory_store.record(turn("quiet", messages=(message(1, idle - 1, pattern="pain"),)))
    await memory_store.record(
        turn("at-limit", patient=2, messages=(message(2, idle, pattern="pain"),))
    )
    await memory_store.record(
        turn(
            "answered",
            patient=3,
            messages=(message(3, 10, pattern="pain"),),
            outcomes=(booked(3, 11, kind="cancelled"),),
        )
    )
    assert await stats(memory_store) == {
        "pain": PatternOutcomes("pain", conversations=3, booked=0, escalated=0, dropped=1)
    }


async def test_pattern_outcomes_are_per_pattern_in_name_order(memory_store: MemoryStore) -> None:
    await memory_store.record(
        turn(
            messages=(message(1, 10, pattern="pain"), message(2, 20, pattern="booking")),
            outcomes=(booked(2, 21),),
        )
    )
    found = await memory_store.pattern_outcomes(since=SINCE, idle_before=IDLE_BEFORE)
    assert found == [
        PatternOutcomes("booking", conversations=1, booked=1, escalated=0, dropped=0),
        PatternOutcomes("pain", conversations=1, booked=1, escalated=0, dropped=0),
    ]


# -- export ---------------------------------------------------------------------------------


async def test_export_holds_the_patients_nodes_and_the_shared_ones_they_point_at(
    memory_store: MemoryStore,
) -> None:
    await memory_store.record(A_TURN)
    await memory_store.record(
        turn(
            "c2",
            patient=2,
            messages=(message(20, 5, pattern="other"),),
            outcomes=(booked(20, 6, provider_id=4),),
        )
    )
    assert await memory_store.export(1) == GraphExport(
        nodes=[
            {
                "label": "Conversation",
                "key": "c1",
                "properties": {
                    "id": "c1",
                    "channel": "web",
                    "language": "en",
                    "started_at": "2026-03-02T09:00:00.000000+00:00",
                    "last_at": "2026-03-02T09:01:00.000000+00:00",
                },
            },
            {
                "label": "Doctor",
                "key": "provider:3",
                "properties": {"key": "provider:3", "name": "Dr. 3"},
            },
            {
                "label": "Message",
                "key": "10",
                "properties": {
                    "id": 10,
                    "role": "patient",
                    "at": "2026-03-02T09:00:00.000000+00:00",
                    "intent": "book",
                    "urgency": "ROUTINE",
                    "language": "en",
                },
            },
            {
                "label": "Message",
                "key": "11",
                "properties": {
                    "id": 11,
                    "role": "assistant",
                    "at": "2026-03-02T09:01:00.000000+00:00",
                    "language": "en",
                },
            },
            {
                "label": "Outcome",
                "key": "booked:10",
                "properties": {
                    "id": "booked:10",
                    "kind": "booked",
                    "at": "2026-03-02T09:01:00.000000+00:00",
                    "visit_at": "2026-03-10T08:30:00.000000+00:00",
                    "appointment_id": 70,
                },
            },
            {"label": "Patient", "key": "1", "properties": {"id": 1}},
            {"label": "Pattern", "key": "toothache", "properties": {"name": "toothache"}},
        ],
        edges=[
            {
                "type": "CONTAINS",
                "from": "Conversation:c1",
                "to": "Message:10",
                "properties": {"at": "2026-03-02T09:00:00.000000+00:00"},
            },
            {
                "type": "CONTAINS",
                "from": "Conversation:c1",
                "to": "Message:11",
                "properties": {"at": "2026-03-02T09:01:00.000000+00:00"},
            },
            {
                "type": "HAD",
                "from": "Patient:1",
                "to": "Conversation:c1",
                "properties": {"at": "2026-03-02T09:00:00.000000+00:00"},
            },
            {
                "type": "LED_TO",
                "from": "Message:10",
                "to": "Outcome:booked:10",
                "properties": {"at": "2026-03-02T09:01:00.000000+00:00"},
            },
            {
                "type": "MATCHED",
                "from": "Message:10",
                "to": "Pattern:toothache",
                "properties": {"at": "2026-03-02T09:00:00.000000+00:00"},
            },
            {
                "type": "WITH",
                "from": "Outcome:booked:10",
                "to": "Doctor:provider:3",
                "properties": {},
            },
        ],
    )


async def test_export_of_an_unknown_patient_is_empty(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    assert await memory_store.export(2) == GraphExport()


# -- erase, clear, dump and load --------------------------------------------------------------


async def test_erase_removes_the_patients_nodes_and_leaves_the_rest(
    memory_store: MemoryStore,
) -> None:
    await three_conversations(memory_store)
    await memory_store.record(turn("c-anon", patient=None, messages=(message(30, 5),)))
    await memory_store.record(turn("c-kept", patient=None, messages=(message(31, 5),)))
    other = await memory_store.export(2)

    # Patient 1, their 3 conversations and c-anon, 6 messages, 4 outcomes.
    assert await memory_store.erase(1, ["c-anon"]) == 1 + 4 + 6 + 4

    assert await memory_store.history(1) == PatientHistory(1)
    assert await memory_store.export(1) == GraphExport()
    assert await memory_store.export(2) == other
    assert await memory_store.counts() == {
        "Patient": 1,
        "Conversation": 2,
        "Message": 2,
        "Pattern": 2,
        "Outcome": 0,
        "Doctor": 2,
    }
    assert keys_of(await memory_store.dump(), "Conversation") == ["c-kept", "c-other"]


async def test_erasing_an_unknown_patient_removes_nothing(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    before = await memory_store.dump()
    assert await memory_store.erase(5) == 0
    assert await memory_store.dump() == before


async def test_clear_empties_the_store(memory_store: MemoryStore) -> None:
    await three_conversations(memory_store)
    await memory_store.clear()
    assert await memory_store.counts() == EMPTY


async def test_a_dump_loads_back_as_it_was(memory_store: MemoryStore) -> None:
    await three_conversations(memory_store)
    closed = escalated(None, 1, resolved_at=at(60), resolved_by="Dr. Levi")
    await memory_store.record(turn("c-old", minutes=60, outcomes=(closed,)))
    await memory_store.record(turn("c-moved", patient=1, messages=(message(40, 7),)))
    await memory_store.record(turn("c-moved", patient=2, minutes=8))
    dump = await memory_store.dump()
    history = await memory_store.history(1)
    counts = await memory_store.counts()

    await memory_store.clear()
    await memory_store.load(dump)

    assert await memory_store.dump() == dump
    assert await memory_store.history(1) == history
    assert await memory_store.counts() == counts
    assert dump.nodes == sorted(dump.nodes, key=lambda n: (n["label"], n["key"]))
    assert dump.edges == sorted(dump.edges, key=lambda e: (e["type"], e["from"], e["to"]))


async def test_a_dump_loads_only_into_an_empty_store(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    dump = await memory_store.dump()
    with pytest.raises(ValueError):
        await memory_store.load(dump)
    assert await memory_store.dump() == dump


async def test_a_broken_dump_loads_nothing(memory_store: MemoryStore) -> None:
    await memory_store.record(A_TURN)
    dump = await memory_store.dump()
    await memory_store.clear()
    without_conversation = GraphExport(
        nodes=[n for n in dump.nodes if n["label"] != "Conversation"], edges=dump.edges
    )
    with pytest.raises(ValueError):
        await memory_store.load(without_conversation)
    assert await memory_store.counts() == EMPTY
