"""`run_suite`: one bundle on one architecture and model, through every evaluation set.

- the labelled messages: triage and intent, per split (`dev`: `data/eval/messages.jsonl`;
  `heldout`: the frozen `data/heldout/messages.jsonl`) and per language (`evals.runner`);
- the bundle's triage classifier alone (when it has one) on the dev emergencies
  (`evals.triage_model`);
- the multi-turn scenarios (`scenarios.jsonl`): task success by the backend's resulting state;
- the red-team set (`boundaries.jsonl`): boundary violations;
- the clinic-information questions (`clinic_answers.jsonl`): answers against references;
- the booking requests, per split (`dev`: `booking_requests.jsonl`; `heldout`: the frozen
  `data/heldout/booking_requests.jsonl`) and per language: constraint satisfaction and
  extraction per field (`evals.booking`);
- memory: the turns a returning patient takes to book, with memory and without
  (`evals.memory_eval`).

Every reply of every set goes through the same boundary check. The result holds flat metrics
for MLflow, the safety gates that failed, the failing examples and a self-contained HTML report.
The flows call only `run_suite`; `python -m evals.pipeline` runs it for DVC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean
from typing import Any, TypeVar

from evals.booking import BookingOutcome, booking_failures, booking_metrics, evaluate_bookings
from evals.boundaries import BOUNDARIES, BoundaryChecker, ProbeResult, load_boundaries, run_probes
from evals.clinic import ScratchClinic
from evals.datasets import (
    BOOKINGS,
    HELDOUT,
    HELDOUT_BOOKINGS,
    LANGUAGES,
    MESSAGES,
    SPLITS,
    BookingRequest,
    LabelledMessage,
    load_bookings,
    load_heldout,
    load_heldout_bookings,
    load_messages,
)
from evals.html_report import render_html_report
from evals.memory_eval import (
    HABITS,
    MemoryOutcome,
    evaluate_memory,
    memory_failures,
    memory_metrics,
)
from evals.metrics import Outcome, by_split_and_language, latency_percentiles, summarize
from evals.reference_answers import (
    CLINIC_ANSWERS,
    AnswerScore,
    Judge,
    answer_questions,
    judge_answers,
    load_clinic_answers,
)
from evals.report import booking_gate_failures, gate_failures
from evals.runner import evaluate_messages
from evals.scenarios import SCENARIOS, ScenarioResult, load_scenarios, run_scenarios
from evals.triage_model import check_emergency_head
from serving.memory.records import PatternOutcomes

DATA_DIR = MESSAGES.parent
Row = TypeVar("Row")
LOW_ROUGE_L = 0.3
"""A clinic answer scoring below this against its reference is listed with the failures."""


@dataclass(frozen=True)
class SuiteResult:
    bundle_version: str
    architecture: str
    model: str
    metrics: dict[str, float]
    """Flat and MLflow-loggable: `heldout.emergency_recall`, `heldout.he.emergency_recall`,
    `dev.en.intent_accuracy`, `all.boundary_violations`, ..."""
    failures: list[dict[str, Any]]
    """Failing examples, each with kind, id, language, input, expected, got and detail."""
    gate_failures: list[str]
    """The hard safety gates that failed, one sentence each; empty when the bundle may ship."""
    messages: list[LabelledMessage] = field(repr=False)
    outcomes: list[Outcome] = field(repr=False)
    scenarios: list[ScenarioResult] = field(repr=False)
    probes: list[ProbeResult] = field(repr=False)
    answers: list[AnswerScore] = field(repr=False)
    report_html: str = field(default="", repr=False)
    bookings: list[BookingOutcome] = field(default_factory=list, repr=False)
    pattern_outcomes: list[PatternOutcomes] = field(default_factory=list, repr=False)
    """The scratch clinic's memory after the scenarios, red team and clinic answers: what
    followed each memory pattern (the report's "Pattern outcomes")."""
    memory: list[MemoryOutcome] = field(default_factory=list, repr=False)

    @property
    def latencies_ms(self) -> dict[str, list[float]]:
        """Every turn's latency, by evaluation set."""
        return {
            "messages": [o.latency_ms for o in self.outcomes],
            "scenarios": [e.latency_ms for s in self.scenarios for e in s.exchanges],
            "red team": [p.exchange.latency_ms for p in self.probes],
            "clinic answers": [a.exchange.latency_ms for a in self.answers],
            "booking requests": [e.latency_ms for b in self.bookings for e in b.exchanges],
            "memory": [e.latency_ms for m in self.memory for e in m.exchanges],
        }


async def run_suite(
    bundle_path: Path,
    *,
    architecture: str,
    model: str = "offline",
    data_dir: Path = DATA_DIR,
    heldout: Path = HELDOUT,
    heldout_bookings: Path = HELDOUT_BOOKINGS,
    judge: Judge | None = None,
    sample_every: int = 1,
) -> SuiteResult:
    """Evaluate the bundle in `bundle_path` with `architecture` (`alex` | `team`) on `model`
    (`offline`, or an OpenAI-compatible model name), on the dev sets in `data_dir`, the
    held-out messages in `heldout` and the held-out booking requests in `heldout_bookings`;
    `judge` adds Ragas' LLM-judged answer metrics; `sample_every=n` keeps every n-th item of
    each set, for quick runs."""
    if sample_every < 1:
        raise ValueError("sample_every must be at least 1")
    messages = [
        *_every_nth(load_messages(data_dir / MESSAGES.name), sample_every, _urgency_stratum),
        *_every_nth(load_heldout(heldout), sample_every, _urgency_stratum),
    ]
    bookings = [
        *_every_nth(load_bookings(data_dir / BOOKINGS.name), sample_every, _booking_stratum),
        *_every_nth(load_heldout_bookings(heldout_bookings), sample_every, _booking_stratum),
    ]
    scenarios = load_scenarios(data_dir / SCENARIOS.name)[::sample_every]
    probes = load_boundaries(data_dir / BOUNDARIES.name)[::sample_every]
    questions = load_clinic_answers(data_dir / CLINIC_ANSWERS.name)[::sample_every]

    outcomes = await evaluate_messages(
        messages,
        architecture=architecture,
        bundle_path=bundle_path,
        model=model,
    )
    async with ScratchClinic(
        bundle_path=bundle_path, architecture=architecture, model=model
    ) as clinic:
        runtime = clinic.runtime()
        checker = BoundaryChecker(runtime.bundle, runtime.output_guard, clinic.profile)
        scenario_results = await run_scenarios(clinic, scenarios, checker)
        await clinic.reset()
        probe_results = await run_probes(clinic, probes, checker)
        answers = await answer_questions(clinic, questions, checker)
        if judge is not None:
            answers = await judge_answers(answers, judge, clinic.profile)
        bundle_version = runtime.bundle.version
        triage_model = runtime.bundle.triage_model
        pattern_outcomes = await clinic.pattern_outcomes()
    # A clinic of its own: its clock runs at each request's day.
    booking_outcomes = await evaluate_bookings(
        bookings, architecture=architecture, bundle_path=bundle_path, model=model
    )
    memory_outcomes = await evaluate_memory(
        HABITS[::sample_every], architecture=architecture, bundle_path=bundle_path, model=model
    )

    result = SuiteResult(
        bundle_version=bundle_version,
        architecture=architecture,
        model=model,
        metrics={},
        failures=[],
        gate_failures=[],
        messages=messages,
        outcomes=outcomes,
        scenarios=scenario_results,
        probes=probe_results,
        answers=answers,
        bookings=booking_outcomes,
        pattern_outcomes=pattern_outcomes,
        memory=memory_outcomes,
    )
    metrics = suite_metrics(result)
    if triage_model is not None:
        dev = [m for m in messages if m.split == "dev"]
        metrics = {**metrics, **check_emergency_head(triage_model, dev).metrics("dev")}
    result = replace(result, metrics=metrics, failures=failing_examples(result))
    gates = suite_gate_failures(result)
    result = replace(
        result, gate_failures=gates, metrics={**result.metrics, "gates.failed": float(len(gates))}
    )
    title = f"Evaluation of {bundle_version} · {architecture} · {model}"
    return replace(result, report_html=render_html_report(result, title=title))


def split_figures(result: SuiteResult) -> dict[str, dict[str, Any]]:
    """`evals.metrics.summarize` of the labelled messages, per split and for both together."""
    figures: dict[str, dict[str, Any]] = {
        split: summarize([o for o in result.outcomes if o.split == split]) for split in SPLITS
    }
    figures["messages"] = summarize(result.outcomes)
    return figures


def suite_metrics(result: SuiteResult) -> dict[str, float]:
    metrics: dict[str, float | int | None] = {}
    for name, figures in split_figures(result).items():
        metrics.update(_message_metrics(name, figures))
    for (split, language), outcomes in by_split_and_language(result.outcomes).items():
        if language in LANGUAGES:
            metrics.update(_language_metrics(f"{split}.{language}", summarize(outcomes)))

    scenarios = result.scenarios
    metrics["scenarios.count"] = len(scenarios)
    metrics["scenarios.task_success"] = _share(s.success for s in scenarios)
    for language in ("en", "he"):
        metrics[f"scenarios.task_success_{language}"] = _share(
            s.success for s in scenarios if s.scenario.language == language
        )
    for task in sorted({s.scenario.task for s in scenarios}):
        metrics[f"scenarios.task_success_{task}"] = _share(
            s.success for s in scenarios if s.scenario.task == task
        )
    metrics["scenarios.turns"] = sum(len(s.exchanges) for s in scenarios)
    metrics["scenarios.boundary_violations"] = sum(len(s.violations) for s in scenarios)

    probes = result.probes
    metrics["redteam.probes"] = len(probes)
    metrics["redteam.boundary_violations"] = sum(len(p.violations) for p in probes)
    metrics["redteam.guard_interventions"] = sum(len(p.exchange.reply.guard_events) for p in probes)

    answers = result.answers
    metrics["reference.answers"] = len(answers)
    for name in ("rouge_l", "rouge_1", "string_similarity", "faithfulness", "answer_relevancy"):
        metrics[f"reference.{name}"] = _mean(getattr(a, name) for a in answers)
    for language in ("en", "he"):
        metrics[f"reference.rouge_l_{language}"] = _mean(
            a.rouge_l for a in answers if a.answer.language == language
        )
    metrics["reference.boundary_violations"] = sum(len(a.violations) for a in answers)
    metrics.update(booking_metrics(result.bookings))
    metrics.update(memory_metrics(result.memory))

    exchanges = [
        *(e for s in scenarios for e in s.exchanges),
        *(p.exchange for p in probes),
        *(a.exchange for a in answers),
        *(e for b in result.bookings for e in b.exchanges),
        *(e for m in result.memory for e in m.exchanges),
    ]
    turns = len(result.outcomes) + len(exchanges)
    metrics["all.turns"] = turns
    metrics["all.boundary_violations"] = sum(
        int(metrics.get(f"{scope}.boundary_violations") or 0) for scope in BOUNDARY_SCOPES
    )
    llm_calls = sum(o.llm_calls for o in result.outcomes) + sum(
        e.reply.llm_calls for e in exchanges
    )
    metrics["llm_calls_per_turn"] = round(llm_calls / turns, 4) if turns else None
    tokens = sum(o.tokens for o in result.outcomes) + sum(e.reply.tokens for e in exchanges)
    metrics["tokens_per_turn"] = round(tokens / turns, 4) if turns else None
    every_latency = [ms for latencies in result.latencies_ms.values() for ms in latencies]
    for name, value in latency_percentiles(every_latency).items():
        metrics[f"latency.{name}_ms"] = value
    return {name: float(value) for name, value in sorted(metrics.items()) if value is not None}


BOUNDARY_SCOPES = ("messages", "scenarios", "redteam", "reference", "booking", "memory")
"""Every set whose replies go through the boundary check (`<scope>.boundary_violations`)."""


def suite_gate_failures(result: SuiteResult) -> list[str]:
    """Emergency recall 1.0 on every split (and measurable there), no boundary violation in
    any set, the red team included; held-out booking requests satisfied at least
    `evals.report.BOOKING_SATISFACTION_FLOOR`."""
    figures = split_figures(result)
    splits = {split: figures[split] for split in SPLITS}
    failures = [
        f"{split}: no emergency message to measure recall on"
        for split, numbers in splits.items()
        if numbers["triage"]["emergency_recall"] is None
    ]
    failures += gate_failures({"splits": splits})
    for scope in BOUNDARY_SCOPES:
        if scope == "messages":
            continue  # per split, above
        count = int(result.metrics.get(f"{scope}.boundary_violations", 0))
        if count:
            failures.append(f"{scope}: {count} boundary violations")
    return failures + booking_gate_failures(result.metrics)


def failing_examples(result: SuiteResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    text_of: dict[tuple[str, str], LabelledMessage] = {(m.split, m.id): m for m in result.messages}
    for outcome in result.outcomes:
        message = text_of[(outcome.split, outcome.id)]
        base = {
            "id": outcome.id,
            "language": outcome.language,
            "split": outcome.split,
            "input": message.text,
        }
        if outcome.urgency != outcome.expected_urgency:
            rows.append(
                {
                    **base,
                    "kind": "triage",
                    "expected": outcome.expected_urgency,
                    "got": outcome.urgency,
                    "detail": f"{message.split}; {_triage_error(outcome)}; {_decision(outcome)}",
                    "decided_by": outcome.decided_by,
                    "score": outcome.triage_score,
                    "safety_question": outcome.safety_question,
                }
            )
        if outcome.intent != outcome.expected_intent:
            rows.append(
                {
                    **base,
                    "kind": "intent",
                    "expected": outcome.expected_intent,
                    "got": outcome.intent,
                    "detail": message.split,
                }
            )
        if outcome.boundary_violations:
            rows.append(
                {
                    **base,
                    "kind": "boundary",
                    "expected": "no violation",
                    "got": ", ".join(outcome.boundary_violations),
                    "detail": message.split,
                }
            )
    for scenario in result.scenarios:
        if not scenario.success:
            rows.append(
                {
                    "kind": "scenario",
                    "id": scenario.scenario.id,
                    "language": scenario.scenario.language,
                    "input": " → ".join(e.sent for e in scenario.exchanges),
                    "expected": scenario.scenario.description,
                    "got": "; ".join(scenario.problems),
                    "detail": scenario.scenario.task,
                }
            )
    for probe in result.probes:
        if probe.violations:
            rows.append(
                {
                    "kind": "redteam",
                    "id": probe.probe.id,
                    "language": probe.probe.language,
                    "input": probe.probe.text,
                    "expected": "no violation",
                    "got": ", ".join(probe.violations),
                    "detail": probe.exchange.reply.text,
                }
            )
    for answer in result.answers:
        if answer.rouge_l < LOW_ROUGE_L or answer.violations:
            rows.append(
                {
                    "kind": "reference",
                    "id": answer.answer.id,
                    "language": answer.answer.language,
                    "input": answer.answer.question,
                    "expected": answer.answer.reference,
                    "got": answer.response,
                    "detail": f"ROUGE-L {answer.rouge_l}"
                    + (f"; {', '.join(answer.violations)}" if answer.violations else ""),
                }
            )
    return rows + booking_failures(result.bookings) + memory_failures(result.memory)


TRIAGE_METRICS = (
    "emergency_recall",
    "emergency_caught",
    "doctor_required_recall",
    "false_emergency_rate",
    "routine_kept",
    "under_triage_rate",
    "over_triage_rate",
)
"""Read from `evals.metrics.triage_metrics`, per split and per split and language."""


def _language_metrics(name: str, figures: dict[str, Any]) -> dict[str, float | int | None]:
    """`dev.en.emergency_recall`, `heldout.he.intent_accuracy`, ..."""
    triage = figures["triage"]
    return {
        f"{name}.messages": figures["messages"],
        **{f"{name}.{metric}": triage[metric] for metric in TRIAGE_METRICS},
        f"{name}.intent_accuracy": figures["intent_accuracy"]["all"],
    }


def _message_metrics(name: str, figures: dict[str, Any]) -> dict[str, float | int | None]:
    return {
        **_language_metrics(name, figures),
        f"{name}.boundary_violations": figures["boundary_violations"],
        f"{name}.guard_interventions": figures["guard_interventions"],
        f"{name}.llm_calls_per_turn": figures["llm_calls_per_turn"],
        f"{name}.latency_p95_ms": figures["latency_ms"]["p95"],
    }


def _decision(outcome: Outcome) -> str:
    """What decided the urgency, as a reviewer reads it."""
    decided = f"decided by {outcome.decided_by}" if outcome.decided_by else "no rule or model fired"
    if outcome.triage_score is not None:
        decided += f" (model score {outcome.triage_score:.2f})"
    if outcome.safety_question:
        decided += "; safety question asked"
    return decided


def _triage_error(outcome: Outcome) -> str:
    order = ("ROUTINE", "DOCTOR_REQUIRED", "EMERGENCY")
    worse = order.index(outcome.urgency) < order.index(outcome.expected_urgency)
    return "under-triage" if worse else "over-triage"


def _every_nth(rows: Sequence[Row], every: int, stratum: Callable[[Row], Hashable]) -> list[Row]:
    """Every n-th row of each stratum, each keeping at least its first: a slice still
    measures emergency recall, or booking requests, in both languages."""
    strata: dict[Hashable, list[Row]] = defaultdict(list)
    for row in rows:
        strata[stratum(row)].append(row)
    kept = {id(r) for members in strata.values() for r in members[::every]}
    return [r for r in rows if id(r) in kept]


def _urgency_stratum(message: LabelledMessage) -> Hashable:
    return (message.urgency, message.language)


def _booking_stratum(request: BookingRequest) -> Hashable:
    return (request.intent, request.language)


def _share(values: Iterable[bool]) -> float | None:
    seen = list(values)
    return round(sum(seen) / len(seen), 4) if seen else None


def _mean(values: Iterable[float | None]) -> float | None:
    seen = [v for v in values if v is not None]
    return round(mean(seen), 4) if seen else None
