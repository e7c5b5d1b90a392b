"""The `promote` and `rollback` flows: how a bundle reaches patients, and how it is taken back.

`promote` evaluates the candidate (the `evaluate` flow, as a subflow), reads the metrics of the
evaluation run recorded on the version in production, and applies the gates of `flows.gates`.
On a pass it registers the bundle in the registry and moves the alias (`production`); serving
instances following the alias swap to it on their next poll, without a restart. On a failure
nothing in the registry changes. Either way the decision and its reasons are a report,
`promotion.md`, on the candidate's MLflow run and a Prefect artifact.

`rollback` moves the alias back to the version it replaced.

    .venv/bin/python -m flows.promote prompts --tolerance 0.02
    .venv/bin/python -m flows.promote --rollback
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from evals.datasets import HELDOUT, HELDOUT_BOOKINGS
from evals.suite import DATA_DIR
from flows.evaluate import NETWORK_RETRIES, evaluate, resolve_tracking_uri
from flows.gates import Comparison, GateResult, Scale, check_promotion
from flows.mlflow_setup import mlflow_client
from serving.agents.architectures import Architecture
from serving.bundle.registry import DEFAULT_ALIAS, BundleRegistry, RegisteredBundle

DEFAULT_MODEL_NAME = "dental-clinic-assistant-bundle"
Decision = Literal["promoted", "refused", "unchanged"]
COMPARED_PARAMS = ("architecture", "model", "sample_every", "data_sha256")
"""Evaluation settings that must match for the comparison with production to be like for like."""


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def current_production(tracking_uri: str, model_name: str, alias: str) -> RegisteredBundle | None:
    """The version the alias points at, or None before the first promotion."""
    return BundleRegistry(tracking_uri, model_name).alias(alias)


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def recorded_evaluation(tracking_uri: str, run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics and params of an evaluation run."""
    run = mlflow_client(tracking_uri).get_run(run_id)
    return dict(run.data.metrics), dict(run.data.params)


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def register_and_move_alias(
    tracking_uri: str, model_name: str, alias: str, bundle_dir: Path, run_id: str
) -> RegisteredBundle:
    """Register the bundle with its evaluation run, then point the alias at it."""
    registry = BundleRegistry(tracking_uri, model_name)
    registered = registry.register(bundle_dir, run_id=run_id)
    registry.set_alias(registered, alias)
    return registered


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def record_decision(tracking_uri: str, run_id: str, decision: Decision, report: str) -> None:
    """The decision as a tag and the report as `promotion.md` on the candidate's run."""
    client = mlflow_client(tracking_uri)
    client.set_tag(run_id, "promotion", decision)
    client.log_text(run_id, report, "promotion.md")


def render_report(
    *,
    bundle_version: str,
    decision: Decision,
    run_id: str,
    production: RegisteredBundle | None,
    gates: GateResult,
    notes: list[str],
    tolerance: float,
) -> str:
    headline = {
        "promoted": f"promoted {bundle_version} to production",
        "refused": f"refused {bundle_version}; production is unchanged",
        "unchanged": f"{bundle_version} is already in production; nothing to do",
    }[decision]
    against = (
        f"version {production.model_version} ({production.bundle_version})"
        if production
        else "nothing (no version in production yet)"
    )
    lines = [
        f"# Promotion: {headline}",
        "",
        f"Candidate evaluation run: `{run_id}`. Compared with: {against}. "
        f"Tolerance: {tolerance:g}.",
        "",
    ]
    if gates.failures:
        lines += ["## Why it was refused", "", *[f"- {f}" for f in gates.failures], ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += [
        "## Metrics",
        "",
        "| metric | candidate | production | change | direction | |",
        "|---|---|---|---|---|---|",
        *[_row(c) for c in gates.comparisons],
        "",
    ]
    return "\n".join(lines)


def _row(comparison: Comparison) -> str:
    direction = comparison.direction
    if direction is None:
        how = "not in the direction table"
    elif direction.scale is Scale.INFORMATIONAL:
        how = f"{direction.better.value} (informational)"
    else:
        how = direction.better.value
    production = "—" if comparison.production is None else f"{comparison.production:g}"
    change = "—" if comparison.change is None else f"{comparison.change:+.4g}"
    mark = "**regressed**" if comparison.regressed else ""
    return (
        f"| `{comparison.metric}` | {comparison.candidate:g} | {production} | {change} | "
        f"{how} | {mark} |"
    )


@flow(name="promote", log_prints=True)
def promote(
    bundle: str = "prompts",
    tolerance: float = 0.02,
    architecture: Architecture = "alex",
    model: str = "offline",
    sample_every: int = 1,
    data_dir: str = str(DATA_DIR),
    heldout: str = str(HELDOUT),
    heldout_bookings: str = str(HELDOUT_BOOKINGS),
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str = DEFAULT_ALIAS,
) -> dict[str, Any]:
    """Evaluate `bundle`, gate it against production, and on a pass make it production.

    Gates (`flows.gates`): the absolute triage and intent floors on dev and on the frozen
    held-out set (`heldout`), the held-out booking requests (`heldout_bookings`) satisfied,
    the triage classifier alone catching the dev emergencies, no boundary violation, and no
    metric worse than production's recorded run beyond `tolerance`
    (absolute for rates, relative for amounts; see `flows.gates.DIRECTIONS`).

    Returns {"decision" ("promoted" | "refused" | "unchanged"), "reasons", "bundle_version",
    "run_id", "production" (the version serving after the flow), "report"}. Raises
    `BundleError` for a bundle that does not load, and `RegistryUnavailable` when MLflow cannot
    be reached.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be 0 or more, got {tolerance}")
    uri = resolve_tracking_uri(tracking_uri)
    evaluation = evaluate(
        bundle=bundle,
        architecture=architecture,
        model=model,
        sample_every=sample_every,
        data_dir=data_dir,
        heldout=heldout,
        heldout_bookings=heldout_bookings,
        tracking_uri=uri,
    )
    run_id: str = evaluation["run_id"]
    bundle_version: str = evaluation["bundle_version"]
    production = current_production(uri, model_name, alias)
    notes: list[str] = []
    baseline: dict[str, float] | None = None
    if production is not None and production.run_id is not None:
        baseline, baseline_params = recorded_evaluation(uri, production.run_id)
        _, candidate_params = recorded_evaluation(uri, run_id)
        for name in COMPARED_PARAMS:
            if baseline_params.get(name) != candidate_params.get(name):
                notes.append(
                    f"production was evaluated with {name}={baseline_params.get(name)!r}, the "
                    f"candidate with {candidate_params.get(name)!r}: the comparison is not like "
                    "for like"
                )
    elif production is not None:
        notes.append(
            f"production version {production.model_version} has no evaluation run recorded; "
            "only the absolute gates apply"
        )
    gates = check_promotion(
        evaluation["metrics"],
        baseline,
        tolerance=tolerance,
        reported_failures=evaluation["gate_failures"],
    )
    decision: Decision
    if not gates.passed:
        decision = "refused"
        serving = production
    elif production is not None and production.bundle_version == bundle_version:
        decision = "unchanged"
        serving = production
    else:
        serving = register_and_move_alias(uri, model_name, alias, Path(bundle), run_id)
        decision = "promoted"
    report = render_report(
        bundle_version=bundle_version,
        decision=decision,
        run_id=run_id,
        production=production,
        gates=gates,
        notes=notes,
        tolerance=tolerance,
    )
    record_decision(uri, run_id, decision, report)
    create_markdown_artifact(
        key="bundle-promotion", markdown=report, description=f"Promotion of {bundle_version}"
    )
    print(report)
    return {
        "decision": decision,
        "reasons": gates.failures,
        "bundle_version": bundle_version,
        "run_id": run_id,
        "production": None if serving is None else asdict(serving),
        "report": report,
    }


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def move_alias_back(tracking_uri: str, model_name: str, alias: str) -> RegisteredBundle:
    return BundleRegistry(tracking_uri, model_name).rollback(alias)


@flow(name="rollback", log_prints=True)
def rollback(
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str = DEFAULT_ALIAS,
) -> dict[str, Any]:
    """Move the alias back to the version it replaced; returns that version.

    Raises `NoPreviousVersion` when there is nothing to go back to.
    """
    uri = resolve_tracking_uri(tracking_uri)
    previous = move_alias_back(uri, model_name, alias)
    message = f"{alias} is back on version {previous.model_version} ({previous.bundle_version})"
    create_markdown_artifact(key="bundle-rollback", markdown=f"# Rollback\n\n{message}\n")
    print(message)
    return asdict(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description="Promote a bundle, or roll production back.")
    parser.add_argument("bundle", nargs="?", default="prompts")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--sample-every", type=int, default=1)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--rollback", action="store_true", help="Move production back instead.")
    args = parser.parse_args()
    if args.rollback:
        result = rollback(tracking_uri=args.tracking_uri)
    else:
        result = promote(
            bundle=args.bundle,
            tolerance=args.tolerance,
            sample_every=args.sample_every,
            tracking_uri=args.tracking_uri,
        )
        result.pop("report")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
