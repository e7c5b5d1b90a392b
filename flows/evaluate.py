"""The `evaluate` flow: one bundle through the evaluation suite, recorded in MLflow.

The bundle is validated before anything runs (a bundle that does not load is refused with the
`BundleError` message and leaves no run behind). Then the suite runs on the offline model (or
the one named), and one MLflow run records the parameters, the flat metrics, the HTML report
and the JSON figures, so the promote flow, the dashboard and a prompt engineer read the same
numbers.

    .venv/bin/python -m flows.evaluate prompts --architecture team
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import flow_run

from evals.datasets import HELDOUT, HELDOUT_BOOKINGS
from evals.suite import DATA_DIR, run_suite
from flows.gates import evaluation_failures
from flows.mlflow_setup import ensure_experiment, local_tracking_uri, mlflow_client
from serving.agents.architectures import Architecture
from serving.build_info import read_build_info
from serving.bundle.load import BundleError, load_bundle
from serving.bundle.registry import BundleRejected, NoPreviousVersion

EVALUATION_EXPERIMENT = "bundle-evaluation"
STRATA = ("split", "urgency", "language", "task", "category")
"""Fields of an evaluation row that a data slice keeps every value of, where a row has them."""
PERMANENT_ERRORS = (BundleError, NoPreviousVersion, BundleRejected)
"""Failures a second attempt cannot fix: a bad bundle, nothing to roll back to."""


def worth_retrying(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry what may pass on a second attempt (a tracking server that blinked), not a refusal."""
    return not isinstance(state.data, PERMANENT_ERRORS)


NETWORK_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 5, 15],
    "retry_condition_fn": worth_retrying,
}
"""For tasks that talk to MLflow (a server in production, a file locally)."""


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation produced, ready to log."""

    bundle_version: str
    architecture: str
    model: str
    metrics: dict[str, float]
    report_html: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle_version,
            "architecture": self.architecture,
            "model": self.model,
            "params": self.params,
            "metrics": self.metrics,
            "gate_failures": self.gate_failures,
            "failures": self.failures,
        }


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The given URI, else MLFLOW_TRACKING_URI (as MLflow itself reads it), else the local store."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or local_tracking_uri()


@task(cache_policy=NO_CACHE)
def validate_bundle(bundle_dir: Path) -> str:
    """Load the bundle as serving would; `BundleError` says what is wrong and where."""
    return load_bundle(bundle_dir).version


@task(cache_policy=NO_CACHE)
def run_evaluation(
    bundle_dir: Path,
    *,
    architecture: Architecture,
    model: str,
    data_dir: Path,
    heldout: Path = HELDOUT,
    heldout_bookings: Path = HELDOUT_BOOKINGS,
    sample_every: int,
) -> Evaluation:
    """The evaluation suite over the dev sets in `data_dir`, the held-out messages in
    `heldout` and the held-out booking requests in `heldout_bookings`, or over a slice of
    them all (`slice_data`)."""
    params = {
        "bundle_path": str(bundle_dir),
        "architecture": architecture,
        "model": model,
        "data_dir": str(data_dir),
        "heldout": str(heldout),
        "heldout_bookings": str(heldout_bookings),
        "sample_every": str(sample_every),
        "data_sha256": data_fingerprint(data_dir, heldout, heldout_bookings),
    }
    with tempfile.TemporaryDirectory(prefix="dental-eval-data-") as scratch:
        data, held, held_bookings = data_dir, heldout, heldout_bookings
        if sample_every > 1:
            data = slice_data(data_dir, Path(scratch), sample_every)
            held = slice_file(heldout, Path(scratch) / "heldout.jsonl", sample_every)
            held_bookings = slice_file(
                heldout_bookings, Path(scratch) / "heldout_bookings.jsonl", sample_every
            )
        result = asyncio.run(
            run_suite(
                bundle_dir,
                architecture=architecture,
                model=model,
                data_dir=data,
                heldout=held,
                heldout_bookings=held_bookings,
            )
        )
    return Evaluation(
        bundle_version=result.bundle_version,
        architecture=architecture,
        model=model,
        metrics=dict(result.metrics),
        report_html=result.report_html,
        failures=list(result.failures),
        gate_failures=list(result.gate_failures),
        params={"bundle_version": result.bundle_version, **params},
    )


def slice_data(data_dir: Path, destination: Path, every: int) -> Path:
    """A copy of `data_dir` in `destination` whose JSONL files are sliced by `slice_file`."""
    target = destination / data_dir.name
    shutil.copytree(data_dir, target)
    for path in sorted(target.rglob("*.jsonl")):
        slice_file(path, path, every)
    return target


def slice_file(source: Path, target: Path, every: int) -> Path:
    """`source` written to `target` with every `every`-th row of each stratum (same split,
    urgency, language, task, category): every stratum keeps at least its first row, so a
    slice still has emergencies in each language of each split. A missing `source` stays
    missing (the suite then says which file it lacks)."""
    if not source.is_file():
        return target
    text = source.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    strata: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for number, line in enumerate(lines):
        row = json.loads(line)
        strata[tuple(str(row.get(name)) for name in STRATA)].append(number)
    kept = sorted(number for numbers in strata.values() for number in numbers[::every])
    target.write_text("".join(lines[number] + "\n" for number in kept), encoding="utf-8")
    return target


def data_fingerprint(data_dir: Path, *heldout: Path) -> str:
    """SHA-256 over the evaluation data files (and the held-out files), so two runs can tell
    they saw the same data."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            continue
        digest.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for held in heldout:
        if held.is_file():
            digest.update(b"heldout\0" + held.read_bytes() + b"\0")
    return digest.hexdigest()


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def start_mlflow_run(
    tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str]
) -> str:
    """A new MLflow run in `experiment` (created if missing); its id."""
    client = mlflow_client(tracking_uri)
    run = client.create_run(ensure_experiment(client, experiment), run_name=run_name, tags=tags)
    return str(run.info.run_id)


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def record_in_mlflow(
    tracking_uri: str,
    run_id: str,
    *,
    params: dict[str, str],
    metrics: dict[str, float],
    texts: dict[str, str],
) -> None:
    """Params, metrics and text artifacts (by artifact path) on the run, then close it.

    Safe to retry: the same params and metrics again change nothing a reader sees.
    """
    from mlflow.entities import Metric, Param

    client = mlflow_client(tracking_uri)
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
        params=[Param(k, v) for k, v in sorted(params.items())],
    )
    for artifact_file, text in texts.items():
        client.log_text(run_id, text, artifact_file)
    client.set_terminated(run_id)


def run_tags(flow_name: str, bundle_version: str) -> dict[str, str]:
    """Tags linking an MLflow run to its flow run and to the code that produced it."""
    return {
        "flow": flow_name,
        "bundle_version": bundle_version,
        "prefect_flow_run_id": str(flow_run.id or ""),
        "git_commit": read_build_info().commit,
    }


def metrics_table(metrics: dict[str, float]) -> str:
    rows = "\n".join(f"| `{name}` | {value:g} |" for name, value in sorted(metrics.items()))
    return f"| metric | value |\n|---|---|\n{rows}"


@flow(name="evaluate", log_prints=True)
def evaluate(
    bundle: str = "prompts",
    architecture: Architecture = "alex",
    model: str = "offline",
    sample_every: int = 1,
    data_dir: str = str(DATA_DIR),
    heldout: str = str(HELDOUT),
    heldout_bookings: str = str(HELDOUT_BOOKINGS),
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Evaluate the bundle in `bundle` on the dev sets in `data_dir`, the frozen held-out
    messages in `heldout` and booking requests in `heldout_bookings`, and record the run in
    MLflow.

    `sample_every` > 1 evaluates a slice (`slice_data`: every n-th item of each split, urgency,
    language and task, so both splits keep their emergencies). `tracking_uri` defaults to
    MLFLOW_TRACKING_URI, else the local store under var/mlflow.

    Returns {"run_id", "metrics", "gate_failures", "bundle_version"}. Raises `BundleError` for
    a bundle that does not load, before anything is evaluated or recorded.
    """
    if sample_every < 1:
        raise ValueError(f"sample_every must be 1 or more, got {sample_every}")
    bundle_dir = Path(bundle)
    bundle_version = validate_bundle(bundle_dir)
    evaluation = run_evaluation(
        bundle_dir,
        architecture=architecture,
        model=model,
        data_dir=Path(data_dir),
        heldout=Path(heldout),
        heldout_bookings=Path(heldout_bookings),
        sample_every=sample_every,
    )
    failures = evaluation_failures(evaluation.metrics, evaluation.gate_failures)
    uri = resolve_tracking_uri(tracking_uri)
    run_id = start_mlflow_run(
        uri,
        EVALUATION_EXPERIMENT,
        f"{architecture} {bundle_version}",
        {**run_tags("evaluate", bundle_version), "gates": "failed" if failures else "passed"},
    )
    report = {**evaluation.as_json(), "gate_failures": failures}
    record_in_mlflow(
        uri,
        run_id,
        params=evaluation.params,
        metrics=evaluation.metrics,
        texts={
            "report/evaluation.html": evaluation.report_html,
            "report/evaluation.json": json.dumps(report, indent=2, ensure_ascii=False),
        },
    )
    verdict = "all gates passed" if not failures else "gates failed:\n- " + "\n- ".join(failures)
    create_markdown_artifact(
        key="bundle-evaluation",
        markdown=f"# {bundle_version} ({architecture}, {model})\n\nMLflow run `{run_id}`; "
        f"{verdict}\n\n{metrics_table(evaluation.metrics)}\n",
        description=f"Evaluation of {bundle_version}",
    )
    print(f"{bundle_version} ({architecture}): run {run_id}; {verdict}")
    return {
        "run_id": run_id,
        "metrics": evaluation.metrics,
        "gate_failures": failures,
        "bundle_version": bundle_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate a bundle and record it in MLflow.")
    parser.add_argument("bundle", nargs="?", default="prompts")
    parser.add_argument("--architecture", default="alex", choices=["alex", "team"])
    parser.add_argument("--model", default="offline")
    parser.add_argument("--sample-every", type=int, default=1)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    result = evaluate(
        bundle=args.bundle,
        architecture=args.architecture,
        model=args.model,
        sample_every=args.sample_every,
        tracking_uri=args.tracking_uri,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
