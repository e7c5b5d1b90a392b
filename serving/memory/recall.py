"""From a patient's history to what is worth recalling: their usual dentist and time of day,
their latest outcomes, escalations still open. Pure: the same history gives the same memory
on either store."""

from __future__ import annotations

from collections import Counter
from datetime import time
from typing import TypeVar
from zoneinfo import ZoneInfo

from serving.memory.records import VISIT_KINDS, OutcomeFacts, PatientHistory, PatientMemory

MIN_VISITS = 2
"""A preference is learnt from at least this many visits that agree."""
RECENT = 5
PARTS_OF_DAY: tuple[tuple[str, time, time], ...] = (
    ("morning", time(6), time(12)),
    ("afternoon", time(12), time(16)),
    ("evening", time(16), time(23)),
)
"""Non-overlapping parts of the day a visit's clinic-local start falls in; the names are
`SlotRequest` parts of day, so a preference becomes a request the slot search honours."""
T = TypeVar("T")


def recall(history: PatientHistory, *, tz: ZoneInfo) -> PatientMemory:
    """What `history` says about the patient, visit times read in the clinic's zone."""
    outcomes = sorted(history.outcomes, key=lambda o: o.at, reverse=True)
    visits = _visits(outcomes)
    provider_id, provider_name = _usual_provider(visits)
    conversations = sorted(history.conversations, key=lambda c: c.last_at, reverse=True)
    resolved = {o.escalation_id for o in outcomes if o.resolved_at is not None}
    return PatientMemory(
        patient_id=history.patient_id,
        conversations=len(conversations),
        last_seen=conversations[0].last_at if conversations else None,
        language=conversations[0].language if conversations else None,
        preferred_provider_id=provider_id,
        preferred_provider_name=provider_name,
        preferred_part_of_day=_usual_part_of_day(visits, tz),
        recent_outcomes=tuple(outcomes[:RECENT]),
        open_escalations=tuple(
            o.escalation_id
            for o in outcomes
            if o.kind == "escalated" and o.escalation_id and o.escalation_id not in resolved
        ),
    )


def _visits(outcomes: list[OutcomeFacts]) -> list[OutcomeFacts]:
    """The visits in the calendar, newest first: each appointment once, as its latest outcome
    left it (a booking then a move counts once, at the moved time and provider; a booking
    then a cancellation not at all). An outcome naming no appointment is a visit of its
    own."""
    seen: set[int] = set()
    visits = []
    for outcome in outcomes:  # newest first
        if outcome.appointment_id is not None:
            if outcome.appointment_id in seen:
                continue
            seen.add(outcome.appointment_id)
        if outcome.kind in VISIT_KINDS:
            visits.append(outcome)
    return visits


def _usual_provider(visits: list[OutcomeFacts]) -> tuple[int | None, str | None]:
    counts = Counter(v.provider_id for v in visits if v.provider_id is not None)
    best = _most_common(counts, order=[v.provider_id for v in visits])
    if best is None:
        return None, None
    name = next(v.provider_name for v in visits if v.provider_id == best)
    return best, name


def _usual_part_of_day(visits: list[OutcomeFacts], tz: ZoneInfo) -> str | None:
    parts = [_part_of_day(v.visit_at.astimezone(tz).time()) for v in visits if v.visit_at]
    counts = Counter(p for p in parts if p is not None)
    return _most_common(counts, order=parts)


def _part_of_day(moment: time) -> str | None:
    for name, start, end in PARTS_OF_DAY:
        if start <= moment < end:
            return name
    return None


def _most_common(counts: Counter[T], *, order: list[T | None]) -> T | None:
    """The value seen at least MIN_VISITS times and most often; a tie goes to the one seen
    first in `order` (newest first)."""
    if not counts:
        return None
    top = max(counts.values())
    if top < MIN_VISITS:
        return None
    return next(v for v in order if v is not None and counts[v] == top)
