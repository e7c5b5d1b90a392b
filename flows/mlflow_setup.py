"""Where flows find MLflow: the local SQLite store by default, or a tracking server.

`make dashboard`, the flows and the tests use the embedded default, `sqlite:///var/mlflow/
mlflow.db` with artifacts in `var/mlflow/artifacts`; production points MLFLOW_TRACKING_URI at a
tracking server. Get clients from `mlflow_client(uri)`: it first turns MLflow's telemetry off
and bounds its HTTP retries (`configure_mlflow_environment`), so nothing phones home and an
unreachable server fails in seconds. Create experiments with `ensure_experiment`, which puts a
SQLite store's artifacts beside it instead of in `./mlruns` of the current directory.
"""

from __future__ import annotations

from pathlib import Path

from serving.bundle.registry import configure_mlflow_environment, ensure_experiment, mlflow_client

__all__ = [
    "configure_mlflow_environment",
    "ensure_experiment",
    "local_tracking_uri",
    "mlflow_client",
]

LOCAL_ROOT = Path("var/mlflow")


def local_tracking_uri(root: Path = LOCAL_ROOT) -> str:
    """The SQLite tracking URI under `root`, with `root/artifacts` created for its artifacts."""
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'mlflow.db').as_posix()}"
