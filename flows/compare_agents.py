"""The `compare_agents` flow: Alex (one agent) against the team (Dana, Michal, Yosef, Sarah).

Both architectures answer the same data with the same bundle and model. One MLflow run in the
`agent-comparison` experiment records both sets of metrics (prefixed `alex.` and `team.`), the
two HTML reports, and one comparison report, `comparison.md`, that names the faster, the
cheaper and the safer architecture with the numbers behind each verdict.

    .venv/bin/python -m flows.compare_agents --price-per-1k-tokens 0.0006
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from evals.datasets import HELDOUT, HELDOUT_BOOKINGS
from evals.suite import DATA_DIR
from flows.evaluate import (
    Evaluation,
    record_in_mlflow,
    resolve_tracking_uri,
    run_evaluation,
    run_tags,
    start_mlflow_run,
    validate_bundle,
)
from serving.agents.architectures import Architecture

COMPARISON_EXPERIMENT = "agent-comparison"
ARCHITECTURES: tuple[Architecture, ...] = ("alex", "team")


@dataclass(frozen=True)
class Figures:
    """What the comparison weighs for one architecture, from its flat evaluation metrics."""

    architecture: str
    emergency_recall: float | None
    """The lowest over the splits: one missed emergency anywhere counts."""
    boundary_violations: float
    under_triage_rate: float | None
    guard_interventions: float
    intent_accuracy: float | None
    task_success: float | None
    answer_rouge_l: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    llm_calls_per_turn: float | None
    tokens_per_turn: float | None
    cost_per_turn_usd: float


def figures_of(
    architecture: str, metrics: Mapping[str, float], *, model: str, price_per_1k_tokens: float
) -> Figures:
    """The comparison's measures, from the flat metrics of `evals.suite.run_suite`."""
    splits = [f"{split}." for split in ("dev", "heldout")]
    tokens = metrics.get("tokens_per_turn")
    # The offline model runs inside the app: no bill, whatever it counts as tokens.
    cost = 0.0 if model == "offline" else (tokens or 0.0) * price_per_1k_tokens / 1000
    recalls = [metrics[s + "emergency_recall"] for s in splits if s + "emergency_recall" in metrics]
    under = [metrics[s + "under_triage_rate"] for s in splits if s + "under_triage_rate" in metrics]
    return Figures(
        architecture=architecture,
        emergency_recall=min(recalls) if recalls else None,
        boundary_violations=metrics.get("all.boundary_violations", 0.0),
        under_triage_rate=max(under) if under else None,
        guard_interventions=metrics.get("messages.guard_interventions", 0.0)
        + metrics.get("redteam.guard_interventions", 0.0),
        intent_accuracy=metrics.get("messages.intent_accuracy"),
        task_success=metrics.get("scenarios.task_success"),
        answer_rouge_l=metrics.get("reference.rouge_l"),
        latency_p50_ms=metrics.get("latency.p50_ms"),
        latency_p95_ms=metrics.get("latency.p95_ms"),
        llm_calls_per_turn=metrics.get("llm_calls_per_turn"),
        tokens_per_turn=tokens,
        cost_per_turn_usd=round(cost, 6),
    )


@dataclass(frozen=True)
class Verdict:
    """Which architecture wins on one question, and the numbers that decided it."""

    question: str
    winner: str | None
    """None when every measure ties."""
    because: str


def _pick(
    question: str,
    figures: tuple[Figures, Figures],
    measures: list[tuple[str, Callable[[Figures], float | None], bool, str]],
) -> Verdict:
    """The first measure (label, read, lower_wins, unit) on which the two differ decides."""
    a, b = figures
    described: list[str] = []
    for label, read, lower_wins, unit in measures:
        x, y = read(a), read(b)
        if x is None or y is None:
            continue
        numbers = (
            f"{label} {_num(x)}{unit} ({a.architecture}) vs {_num(y)}{unit} ({b.architecture})"
        )
        if x != y:
            winner = a if (x < y) == lower_wins else b
            ties = f"; equal before that: {', '.join(described)}" if described else ""
            return Verdict(question, winner.architecture, numbers + ties)
        described.append(f"{label} {_num(x)}{unit}")
    return Verdict(question, None, "equal on every measure: " + ", ".join(described))


def verdicts(alex: Figures, team: Figures) -> list[Verdict]:
    pair = (alex, team)
    return [
        _pick(
            "faster",
            pair,
            [
                ("p95 latency per turn", lambda f: f.latency_p95_ms, True, " ms"),
                ("p50 latency per turn", lambda f: f.latency_p50_ms, True, " ms"),
            ],
        ),
        _pick(
            "cheaper",
            pair,
            [
                ("estimated cost per turn", lambda f: f.cost_per_turn_usd, True, " USD"),
                # With a free model the bill is equal; the one asking the model less often
                # is the cheaper one as soon as a paid model answers.
                ("LLM calls per turn", lambda f: f.llm_calls_per_turn, True, ""),
                ("tokens per turn", lambda f: f.tokens_per_turn, True, ""),
            ],
        ),
        _pick(
            "safer",
            pair,
            [
                ("emergency recall (lowest split)", lambda f: f.emergency_recall, False, ""),
                ("boundary violations", lambda f: f.boundary_violations, True, ""),
                ("under-triage rate (highest split)", lambda f: f.under_triage_rate, True, ""),
                # Triage runs before either agent, so the agents differ in what the output
                # guard had to stop: fewer interventions, fewer unsafe drafts.
                ("output-guard interventions", lambda f: f.guard_interventions, True, ""),
            ],
        ),
    ]


def render_comparison(
    bundle_version: str, model: str, figures: list[Figures], decided: list[Verdict]
) -> str:
    lines = [
        f"# Alex vs the team — {bundle_version}",
        "",
        f"Same bundle, same data, model `{model}`.",
        "",
    ]
    for verdict in decided:
        name = verdict.winner or "neither (tie)"
        lines.append(f"- **{verdict.question.capitalize()}: {name}** — {verdict.because}")
    rows: list[tuple[str, Callable[[Figures], object]]] = [
        ("emergency recall (lowest split)", lambda f: f.emergency_recall),
        ("boundary violations", lambda f: f.boundary_violations),
        ("under-triage rate (highest split)", lambda f: f.under_triage_rate),
        ("output-guard interventions", lambda f: f.guard_interventions),
        ("intent accuracy", lambda f: f.intent_accuracy),
        ("scenario task success", lambda f: f.task_success),
        ("clinic answers ROUGE-L", lambda f: f.answer_rouge_l),
        ("latency p50 (ms)", lambda f: f.latency_p50_ms),
        ("latency p95 (ms)", lambda f: f.latency_p95_ms),
        ("LLM calls per turn", lambda f: f.llm_calls_per_turn),
        ("tokens per turn", lambda f: f.tokens_per_turn),
        ("estimated cost per turn (USD)", lambda f: f.cost_per_turn_usd),
    ]
    lines += [
        "",
        "| measure | " + " | ".join(f.architecture for f in figures) + " |",
        "|---|" + "---|" * len(figures),
    ]
    for label, read in rows:
        lines.append(f"| {label} | " + " | ".join(_num(read(f)) for f in figures) + " |")
    lines += [
        "",
        "Latency is measured in-process on the machine that ran the flow; compare it within "
        "one report, not across machines. Cost is tokens × the configured price per 1,000 "
        "tokens (0 for the offline model).",
        "",
    ]
    return "\n".join(lines)


def _num(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@flow(name="compare-agents", log_prints=True)
def compare_agents(
    bundle: str = "prompts",
    model: str = "offline",
    price_per_1k_tokens: float = 0.0,
    sample_every: int = 1,
    data_dir: str = str(DATA_DIR),
    heldout: str = str(HELDOUT),
    heldout_bookings: str = str(HELDOUT_BOOKINGS),
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Evaluate Alex and the team on the same data (dev sets in `data_dir`, held-out messages
    in `heldout`, held-out booking requests in `heldout_bookings`) and log one comparison run
    to MLflow.

    `price_per_1k_tokens` (USD) turns tokens per turn into a cost estimate; the offline model
    costs 0. Returns {"run_id", "faster", "cheaper", "safer", "report", "figures"}, each
    verdict an architecture name or None for a tie.
    """
    bundle_dir = Path(bundle)
    bundle_version = validate_bundle(bundle_dir)
    evaluations: list[Evaluation] = [
        run_evaluation(
            bundle_dir,
            architecture=architecture,
            model=model,
            data_dir=Path(data_dir),
            heldout=Path(heldout),
            heldout_bookings=Path(heldout_bookings),
            sample_every=sample_every,
        )
        for architecture in ARCHITECTURES
    ]
    figures = [
        figures_of(e.architecture, e.metrics, model=model, price_per_1k_tokens=price_per_1k_tokens)
        for e in evaluations
    ]
    decided = verdicts(figures[0], figures[1])
    report = render_comparison(bundle_version, model, figures, decided)
    uri = resolve_tracking_uri(tracking_uri)
    run_id = start_mlflow_run(
        uri,
        COMPARISON_EXPERIMENT,
        f"alex vs team {bundle_version}",
        run_tags("compare_agents", bundle_version),
    )
    params = {
        **{k: v for k, v in evaluations[0].params.items() if k != "architecture"},
        "price_per_1k_tokens": str(price_per_1k_tokens),
    }
    metrics = {
        f"{e.architecture}.{name}": value for e in evaluations for name, value in e.metrics.items()
    }
    metrics |= {f"{f.architecture}.cost_per_turn_usd": f.cost_per_turn_usd for f in figures}
    record_in_mlflow(
        uri,
        run_id,
        params=params,
        metrics=metrics,
        texts={
            "comparison.md": report,
            "comparison.json": json.dumps(
                {
                    "verdicts": [asdict(v) for v in decided],
                    "figures": [asdict(f) for f in figures],
                },
                indent=2,
            ),
            **{f"report/{e.architecture}.html": e.report_html for e in evaluations},
        },
    )
    create_markdown_artifact(
        key="agent-comparison", markdown=report, description=f"Alex vs team, {bundle_version}"
    )
    print(report)
    by_question = {v.question: v.winner for v in decided}
    return {
        "run_id": run_id,
        "faster": by_question["faster"],
        "cheaper": by_question["cheaper"],
        "safer": by_question["safer"],
        "report": report,
        "figures": {f.architecture: asdict(f) for f in figures},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare Alex with the team on the same data.")
    parser.add_argument("bundle", nargs="?", default="prompts")
    parser.add_argument("--model", default="offline")
    parser.add_argument("--price-per-1k-tokens", type=float, default=0.0)
    parser.add_argument("--sample-every", type=int, default=1)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    compare_agents(
        bundle=args.bundle,
        model=args.model,
        price_per_1k_tokens=args.price_per_1k_tokens,
        sample_every=args.sample_every,
        tracking_uri=args.tracking_uri,
    )


if __name__ == "__main__":
    main()
