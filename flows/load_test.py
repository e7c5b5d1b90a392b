"""`load_test`: a crowd of patients chatting with a running serving app; figures to MLflow.

The flow runs the load test's steps (`evals.bench.load_test`: Locust in a child process, its CSV
figures) as Prefect tasks and logs latency percentiles, throughput and error rate to MLflow
(experiment `load-test`), with the CSVs as the run's artifacts. The users are in
`evals/bench/locustfile.py`.

    python -m flows.load_test --base-url http://127.0.0.1:8000     # against `make run`
    python -m flows.load_test --benchmark    # own demo server; figures into docs/LOAD_TEST.md

Traffic goes only to this machine (127.0.0.1, localhost, ::1): a load test pointed at a live
clinic by mistake would book real appointments.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from evals.bench import load_test as bench
from evals.bench.load_test import (
    REPORT,
    THINK_TIME_SECONDS,
    USER_CLASSES,
    Target,
    demo_patient_phones,
    local_integration_key,
    output_directory,
    refuse_remote,
    render_figures,
    run_benchmark,
    steady_state_p95,
)
from flows.mlflow_setup import ensure_experiment, local_tracking_uri, mlflow_client

EXPERIMENT = "load-test"

run_locust = task(cache_policy=NO_CACHE)(bench.run_locust)
read_figures = task(cache_policy=NO_CACHE)(bench.read_figures)


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The given URI, else MLFLOW_TRACKING_URI, else the local store (as `flows.evaluate`)."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or local_tracking_uri()


@task(retries=3, retry_delay_seconds=[1, 2, 5], cache_policy=NO_CACHE)
def served_bundle(base_url: str) -> str:
    """Check the app answers `/health`; the bundle version it serves (from `/api/version`)."""
    httpx.get(f"{base_url}/health", timeout=5).raise_for_status()
    version = httpx.get(f"{base_url}/api/version", timeout=5)
    version.raise_for_status()
    return str(version.json().get("bundle") or "unknown")


@task(cache_policy=NO_CACHE)
def log_run(
    metrics: dict[str, float],
    params: dict[str, str],
    *,
    tracking_uri: str,
    artifacts: Path,
    summary: str,
) -> str:
    """One MLflow run in the `load-test` experiment: parameters, metrics, the Locust CSVs."""
    client = mlflow_client(tracking_uri)
    from mlflow.entities import Metric, Param  # after mlflow_client: telemetry off first

    experiment_id = ensure_experiment(client, EXPERIMENT)
    run = client.create_run(
        experiment_id,
        run_name=f"{params['target']}-{params['users']}u-{params['duration_seconds']}s",
        tags={"flow": "load_test"},
    )
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
        params=[Param(key, value) for key, value in params.items()],
    )
    client.log_artifacts(run.info.run_id, str(artifacts), artifact_path="locust")
    client.log_text(run.info.run_id, summary, "load_test.md")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


@flow(name="load-test")
def load_test(
    base_url: str = "http://127.0.0.1:8000",
    users: int = 100,
    spawn_rate: float = 10.0,
    duration_seconds: int = 60,
    target: Target = "chat",
    think_time_seconds: tuple[float, float] = THINK_TIME_SECONDS,
    integration_key: SecretStr | None = None,
    patient_phones: list[str] | None = None,
    tracking_uri: str | None = None,
    output_dir: Path | None = None,
) -> dict[str, Any]:
    """Load-test the app at `base_url` (this machine only) and log the figures to MLflow.

    `target="chat"`: patients chatting on `POST /api/v1/chat` (verified patients through the
    integration key and `patient_phones`, default the demo clinic's; anonymous web visitors).
    `target="health"`: `GET /health` with the same profile, the baseline. `tracking_uri`
    defaults to MLFLOW_TRACKING_URI, else the local store under var/mlflow. Each user waits
    `think_time_seconds` (uniform between the two) between messages. `integration_key`
    defaults to the local key file `make run` creates. Locust's CSVs stay in `output_dir`
    when given. Returns {"run_id", "metrics", "requests", "errors", "windows",
    "steady_state_p95_ms", "summary"}: metrics as logged (`load.p95_ms`, ..., and
    `load.client_cpu_seconds`, Locust's own CPU time), figures per request name, Locust's
    errors, 10 s window figures second by second, the lowest and highest window p95 once every
    user runs (None for a short run), a Markdown table.
    """
    refuse_remote(base_url)
    base_url = base_url.rstrip("/")
    if target == "chat" and integration_key is None:
        integration_key = local_integration_key()
    if patient_phones is None:
        patient_phones = demo_patient_phones()
    bundle = served_bundle(base_url)
    with output_directory(output_dir) as workdir:
        prefix, locust_cpu_seconds = run_locust(
            base_url,
            target,
            users=users,
            spawn_rate=spawn_rate,
            duration_seconds=duration_seconds,
            think_time_seconds=think_time_seconds,
            integration_key=integration_key,
            patient_phones=patient_phones,
            workdir=workdir,
        )
        figures = read_figures(prefix)
        metrics = {**figures.metrics(), "load.client_cpu_seconds": locust_cpu_seconds}
        summary = render_figures(figures, title=f"Load test: {target}, {users} users")
        params = {
            "base_url": base_url,
            "target": target,
            "users": str(users),
            "spawn_rate": str(spawn_rate),
            "duration_seconds": str(duration_seconds),
            "think_time_seconds": "-".join(f"{t:g}" for t in think_time_seconds),
            "bundle_version": bundle,
        }
        run_id = log_run(
            metrics,
            params,
            tracking_uri=resolve_tracking_uri(tracking_uri),
            artifacts=workdir,
            summary=summary,
        )
    create_markdown_artifact(key=f"load-test-{target}", markdown=summary)
    get_run_logger().info(
        "%s: %d requests, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, %.1f req/s, error rate %.4f",
        target,
        figures.total.requests,
        figures.total.p50_ms,
        figures.total.p95_ms,
        figures.total.p99_ms,
        figures.total.throughput_rps,
        figures.total.error_rate,
    )
    return {
        "run_id": run_id,
        "metrics": metrics,
        "requests": [asdict(r) for r in figures.by_request],
        "errors": list(figures.errors),
        "windows": [asdict(w) for w in figures.windows],
        "steady_state_p95_ms": steady_state_p95(figures, users),
        "summary": summary,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flows.load_test",
        description="Load-test the serving app with Locust (this machine only) and log the "
        "figures to MLflow. --benchmark starts its own demo server, runs a /health baseline "
        f"and the patients' chat, and writes {REPORT}.",
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--target", choices=sorted(USER_CLASSES), default="chat")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else var/mlflow/mlflow.db)",
    )
    parser.add_argument("--benchmark", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="--benchmark: serving workers of the multi-worker row (default 2, one per core)",
    )
    args = parser.parse_args(argv)
    # A temporary Prefect server started for this run must not phone home either.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if args.benchmark:
        run_benchmark(
            load_test,
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration_seconds=args.duration,
            workers=args.workers,
            tracking_uri=args.tracking_uri,
        )
        print(REPORT.read_text(encoding="utf-8"))
        return
    key = os.environ.get("DENTAL_INTEGRATION_KEY")
    result = load_test(
        args.base_url,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=args.duration,
        target=args.target,
        integration_key=SecretStr(key) if key else None,
        tracking_uri=args.tracking_uri,
    )
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
