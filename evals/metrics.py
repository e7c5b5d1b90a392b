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
    split: str = "dev"
    decided_by: str = ""
    """What set the urgency: rule ids, `model:triage@<version>`, a `fail_safe.*` id, or ""."""
    triage_score: float | None = None
    """The triage classifier's calibrated probability (None: the bundle has no classifier)."""
    intent_source: str = ""
    """What decided the intent: "rules", "model:intent@<version>" or "triage" (an emergency)."""
    safety_question: bool = False
    """The assistant asked the safety question (possible danger, no clear red flag)."""
    rules_urgency: str = ""
    """The urgency the bundle's triage gives without its learned model: the "before"."""


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def triage_metrics(outcomes: Sequence[Outcome], *, rules_only: bool = False) -> dict[str, object]:
    """Triage safety of `outcomes`; `rules_only` reads the rules' urgency instead of the
    assistant's (the safety question then counts as not asked).

    - emergency recall: labelled EMERGENCY triaged EMERGENCY;
    - emergency caught: ... or the safety question asked (a "yes" gets the emergency reply);
    - doctor-required recall: labelled DOCTOR_REQUIRED or EMERGENCY triaged at least
      DOCTOR_REQUIRED (a person sees it);
    - false-emergency rate and routine kept: of the labelled ROUTINE, the share triaged
      EMERGENCY, and the share left ROUTINE (over-triage keeps the safety net usable or not).
    """

    def got(o: Outcome) -> str:
        return (o.rules_urgency or o.urgency) if rules_only else o.urgency

    def asked(o: Outcome) -> bool:
        return not rules_only and o.safety_question

    confusion = Counter((o.expected_urgency, got(o)) for o in outcomes)
    emergencies = [o for o in outcomes if o.expected_urgency == "EMERGENCY"]
    needs_doctor = [o for o in outcomes if o.expected_urgency != "ROUTINE"]
    routine = [o for o in outcomes if o.expected_urgency == "ROUTINE"]
    return {
        "emergency_recall": _ratio(
            sum(got(o) == "EMERGENCY" for o in emergencies), len(emergencies)
        ),
        "emergency_caught": _ratio(
            sum(got(o) == "EMERGENCY" or asked(o) for o in emergencies), len(emergencies)
        ),
        "doctor_required_recall": _ratio(
            sum(RANK[got(o)] >= RANK["DOCTOR_REQUIRED"] for o in needs_doctor), len(needs_doctor)
        ),
        "false_emergency_rate": _ratio(sum(got(o) == "EMERGENCY" for o in routine), len(routine)),
        "routine_kept": _ratio(sum(got(o) == "ROUTINE" for o in routine), len(routine)),
        "under_triage_rate": _ratio(
            sum(RANK[got(o)] < RANK[o.expected_urgency] for o in outcomes), len(outcomes)
        ),
        "over_triage_rate": _ratio(
            sum(RANK[got(o)] > RANK[o.expected_urgency] for o in outcomes), len(outcomes)
        ),
        "confusion": {
            expected: {triaged: confusion[(expected, triaged)] for triaged in URGENCIES}
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


def by_split_and_language(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], list[Outcome]]:
    """The outcomes of each (split, language) cell, plus (split, "all"), in a stable order."""
    cells: dict[tuple[str, str], list[Outcome]] = {}
    for split in ("dev", "heldout"):
        in_split = [o for o in outcomes if o.split == split]
        cells[(split, "all")] = in_split
        for language in ("en", "he"):
            cells[(split, language)] = [o for o in in_split if o.language == language]
    return cells
