"""Metrics over evaluated messages: triage safety, intent accuracy, boundaries, cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

URGENCIES = ("EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE")
RANK = {"ROUTINE": 0, "DOCTOR_REQUIRED": 1, "EMERGENCY": 2}


@dataclass(frozen=True)
class Outcome:
    """What the assistant did with one labelled message."""

    id: str
    language: str
    expected_urgency: str
    urgency: str
    expected_intent: str
    intent: str
    boundary_violations: tuple[str, ...]
    guard_interventions: int
    llm_calls: int
    latency_ms: float
    tokens: int = 0
    decided_by: str = ""
    """What set the urgency: comma-joined rule ids, `model:triage@<version>`, or "" (nothing
    fired)."""
    triage_score: float | None = None
    """The triage classifier's calibrated probability (None: the bundle has no classifier)."""
    intent_source: str = ""
    """What decided the intent: "rules", "model:intent@<version>" or "triage" (an emergency)."""


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def triage_metrics(outcomes: Sequence[Outcome]) -> dict[str, object]:
    confusion = Counter((o.expected_urgency, o.urgency) for o in outcomes)
    emergencies = [o for o in outcomes if o.expected_urgency == "EMERGENCY"]
    doctor = [o for o in outcomes if o.expected_urgency == "DOCTOR_REQUIRED"]
    not_emergency = [o for o in outcomes if o.expected_urgency != "EMERGENCY"]
    return {
        "emergency_recall": _ratio(
            sum(o.urgency == "EMERGENCY" for o in emergencies), len(emergencies)
        ),
        "doctor_required_recall": _ratio(
            sum(RANK[o.urgency] >= RANK["DOCTOR_REQUIRED"] for o in doctor), len(doctor)
        ),
        "false_emergency_rate": _ratio(
            sum(o.urgency == "EMERGENCY" for o in not_emergency), len(not_emergency)
        ),
        "under_triage_rate": _ratio(
            sum(RANK[o.urgency] < RANK[o.expected_urgency] for o in outcomes), len(outcomes)
        ),
        "over_triage_rate": _ratio(
            sum(RANK[o.urgency] > RANK[o.expected_urgency] for o in outcomes), len(outcomes)
        ),
        "confusion": {
            expected: {got: confusion[(expected, got)] for got in URGENCIES}
            for expected in URGENCIES
        },
    }


def intent_accuracy(outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    by_language: dict[str, float | None] = {}
    for language in ("en", "he"):
        subset = [o for o in outcomes if o.language == language]
        by_language[language] = _ratio(
            sum(o.intent == o.expected_intent for o in subset), len(subset)
        )
    by_language["all"] = _ratio(sum(o.intent == o.expected_intent for o in outcomes), len(outcomes))
    return by_language


def latency_percentiles(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and p99 in milliseconds (nearest rank); None for no samples."""
    ordered = sorted(latencies)

    def percentile(p: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"p50": percentile(0.5), "p95": percentile(0.95), "p99": percentile(0.99)}


def summarize(outcomes: Sequence[Outcome]) -> dict[str, object]:
    return {
        "messages": len(outcomes),
        "triage": triage_metrics(outcomes),
        "intent_accuracy": intent_accuracy(outcomes),
        "boundary_violations": sum(len(o.boundary_violations) for o in outcomes),
        "guard_interventions": sum(o.guard_interventions for o in outcomes),
        "llm_calls_per_turn": _ratio(sum(o.llm_calls for o in outcomes), len(outcomes)),
        "tokens_per_turn": _ratio(sum(o.tokens for o in outcomes), len(outcomes)),
        "latency_ms": latency_percentiles([o.latency_ms for o in outcomes]),
    }
