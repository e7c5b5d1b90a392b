"""The load-test flow against a real `dental serve --demo`: Locust in a child process, patients
on the integration key and anonymous visitors, figures in a real MLflow store."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pydantic import SecretStr

from evals.bench.load_test import (
    REPORT_END,
    REPORT_START,
    TargetRefused,
    demo_server,
    refuse_remote,
    replace_figures_section,
)
from flows.load_test import load_test


@pytest.mark.usefixtures("prefect_api")
def test_a_small_crowd_of_patients_is_served_without_errors_and_logged(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(16)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with demo_server(tmp_path, integration_key=key) as server:
        result = load_test(
            server.base_url,
            users=10,
            spawn_rate=10,
            duration_seconds=10,
            # Shorter than uvicorn's 5 s keep-alive: more turns per user in a short test, and
            # no idle connection closed under a request (docs/LOAD_TEST.md, "keep-alive").
            think_time_seconds=(0.5, 2.0),
            integration_key=SecretStr(key),
            tracking_uri=tracking_uri,
        )

    metrics = result["metrics"]
    assert metrics["load.failures"] == 0, result["errors"]
    assert metrics["load.error_rate"] == 0
    assert metrics["load.requests"] >= 30
    assert 0 < metrics["load.p50_ms"] <= metrics["load.p95_ms"] <= metrics["load.p99_ms"]
    assert metrics["load.throughput_rps"] > 0
    steps = {row["name"] for row in result["requests"]}
    assert {"patient: greeting", "anonymous: greeting"} <= steps
    assert max(window["users"] for window in result["windows"]) == 10

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(result["run_id"])
    assert run.data.metrics == pytest.approx(metrics)
    assert run.data.params["target"] == "chat"
    assert run.data.params["users"] == "10"
    assert run.data.params["bundle_version"].startswith("dental-clinic-assistant@")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "locust")}
    assert "locust/locust_stats.csv" in artifacts
    assert key not in json.dumps(run.data.params) + result["summary"]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.7:8000", "https://clinic.example.com", "ftp://127.0.0.1/"]
)
def test_load_never_leaves_this_machine(url: str) -> None:
    with pytest.raises(TargetRefused, match="only against this machine"):
        refuse_remote(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/"])
def test_this_machine_is_a_valid_target(url: str) -> None:
    refuse_remote(url)


def test_the_benchmark_rewrites_only_its_figures(tmp_path: Path) -> None:
    report = tmp_path / "LOAD_TEST.md"
    report.write_text(
        f"# Load test\n\nHow to run it.\n\n{REPORT_START}\nold figures\n{REPORT_END}\n\nNotes.\n"
    )

    replace_figures_section(report, f"{REPORT_START}\nnew figures\n{REPORT_END}")

    text = report.read_text()
    assert "new figures" in text and "old figures" not in text
    assert text.startswith("# Load test\n\nHow to run it.") and text.endswith("Notes.\n")
