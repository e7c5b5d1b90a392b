"""The `train_models` flow: the triage and intent classifiers, from training data to the bundle.

1. The training rows: built from the dev split of `data/eval` (`evals.training_data`, the same
   function as the DVC stage `training_data`), or read from a directory that stage wrote.
2. Both models fitted and measured out of fold (`evals.training`).
3. One MLflow run in experiment `classifier-training`: the settings as params, the out-of-fold
   figures per language as metrics, the confusion matrices (JSON and CSV) and both classifier
   files as artifacts; each model is registered as a new version of `dental-triage-classifier`
   / `dental-intent-classifier` (an MLflow pyfunc model serving the same file).
4. The files written into the bundle as `models/triage.json` and `models/intent.json`, and the
   bundle re-hashed: promotion and rollback then move rules and models together.

    .venv/bin/python -m flows.train                 # `make train`
    .venv/bin/python -m flows.train --max-rows 600  # quick (CI)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from evals.datasets import MESSAGES
from evals.training import (
    TrainedModel,
    TrainingSettings,
    classifier_json,
    data_version,
    train_intent,
    train_triage,
)
from evals.training_data import (
    DEFAULT_SEED,
    INTENT_FILE,
    TRIAGE_FILE,
    TrainingRow,
    build_training_rows,
    limit_rows,
    read_training_rows,
)
from flows.evaluate import (
    NETWORK_RETRIES,
    metrics_table,
    record_in_mlflow,
    resolve_tracking_uri,
    run_tags,
    start_mlflow_run,
)
from flows.mlflow_setup import configure_mlflow_environment, mlflow_client
from serving.bundle.load import load_bundle, rehash

TRAINING_EXPERIMENT = "classifier-training"
REGISTERED_MODELS = {"triage": "dental-triage-classifier", "intent": "dental-intent-classifier"}
MODELS_DIR = "models"


@task(cache_policy=NO_CACHE)
def training_rows(
    source: Path, training_dir: Path | None, seed: int, max_rows: int | None
) -> tuple[list[TrainingRow], list[TrainingRow]]:
    """(triage rows, intent rows): read from `training_dir`, else built from `source`."""
    if training_dir is not None:
        triage = read_training_rows(training_dir / TRIAGE_FILE)
        intent = read_training_rows(training_dir / INTENT_FILE)
    else:
        triage = build_training_rows(source, seed=seed)
        intent = [row for row in triage if row.intent is not None]
    if max_rows is not None:
        triage, intent = limit_rows(triage, max_rows), limit_rows(intent, max_rows)
    return triage, intent


@task(cache_policy=NO_CACHE)
def fit_triage(rows: list[TrainingRow], settings: TrainingSettings, version: str) -> TrainedModel:
    return train_triage(rows, settings, version=f"triage-{version}")


@task(cache_policy=NO_CACHE)
def fit_intent(rows: list[TrainingRow], settings: TrainingSettings, version: str) -> TrainedModel:
    return train_intent(rows, settings, version=f"intent-{version}")


@task(cache_policy=NO_CACHE, **NETWORK_RETRIES)
def register_classifier(tracking_uri: str, run_id: str, kind: str, file_text: str) -> str:
    """Log the classifier as an MLflow model on the run and register it as a new version of
    `REGISTERED_MODELS[kind]`; the version number."""
    configure_mlflow_environment()
    from mlflow.exceptions import MlflowException

    from flows.classifier_model import save_classifier_model

    client = mlflow_client(tracking_uri)
    name = REGISTERED_MODELS[kind]
    artifact_path = f"model/{kind}"
    with tempfile.TemporaryDirectory(prefix="dental-classifier-") as scratch:
        file = Path(scratch) / f"{kind}.json"
        file.write_text(file_text, encoding="utf-8")
        save_classifier_model(file, Path(scratch) / "model")
        client.log_artifacts(run_id, str(Path(scratch) / "model"), artifact_path)
    try:
        client.create_registered_model(name, description=f"The bundle's {kind} classifier")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    artifact_uri = client.get_run(run_id).info.artifact_uri
    version = client.create_model_version(name, f"{artifact_uri}/{artifact_path}", run_id=run_id)
    return str(version.version)


@task(cache_policy=NO_CACHE)
def write_into_bundle(bundle_dir: Path, files: dict[str, str]) -> str:
    """Write `models/<kind>.json` into the bundle and re-hash it; the new content hash."""
    (bundle_dir / MODELS_DIR).mkdir(exist_ok=True)
    for kind, text in files.items():
        (bundle_dir / MODELS_DIR / f"{kind}.json").write_text(text, encoding="utf-8")
    content_hash = rehash(bundle_dir)
    load_bundle(bundle_dir)  # as serving would read it
    return content_hash


def confusion_csv(confusion: dict[str, Any]) -> str:
    """A confusion matrix as CSV: a header of predicted labels, one row per true label."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true \\ predicted", *confusion["labels"]])
    for label, row in zip(confusion["labels"], confusion["matrix"], strict=True):
        writer.writerow([label, *row])
    return out.getvalue()


def artifact_texts(models: dict[str, TrainedModel], files: dict[str, str]) -> dict[str, str]:
    texts = {f"classifiers/{kind}.json": text for kind, text in files.items()}
    for kind, model in models.items():
        texts[f"confusion/{kind}.json"] = json.dumps(model.confusion, indent=2)
        for where, matrix in model.confusion.items():
            texts[f"confusion/{kind}/{where}.csv"] = confusion_csv(matrix)
    return texts


@flow(name="train-models", log_prints=True)
def train_models(
    bundle: str = "prompts",
    source: str = str(MESSAGES.parent),
    training_dir: str | None = None,
    seed: int = DEFAULT_SEED,
    max_rows: int | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Train both classifiers, record and register them in MLflow, write them into `bundle`.

    `training_dir`: read the DVC stage's output instead of building the rows from `source`.
    `max_rows`: keep at most that many rows per model, fewer paraphrases per dev message (every
    message keeps its original) — for quick runs and CI. `tracking_uri` defaults to
    MLFLOW_TRACKING_URI, else the local store under var/mlflow.

    Returns {"run_id", "registered" (kind -> model version), "versions" (kind -> classifier
    version), "metrics", "content_hash"}. The bundle is loaded first: one that does not load
    is refused (`BundleError`) before anything is trained or recorded.
    """
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be 1 or more, got {max_rows}")
    bundle_dir = Path(bundle)
    load_bundle(bundle_dir)
    settings = TrainingSettings(seed=seed)
    triage_rows, intent_rows = training_rows(
        Path(source), Path(training_dir) if training_dir else None, seed, max_rows
    )
    version = data_version(triage_rows, settings)
    models = {
        "triage": fit_triage(triage_rows, settings, version),
        "intent": fit_intent(intent_rows, settings, version),
    }
    files = {kind: classifier_json(model.spec) for kind, model in models.items()}
    metrics = {
        f"{kind}.{name}": value
        for kind, model in models.items()
        for name, value in model.metrics.items()
    }
    uri = resolve_tracking_uri(tracking_uri)
    run_id = start_mlflow_run(
        uri, TRAINING_EXPERIMENT, f"classifiers {version}", run_tags("train-models", version)
    )
    params = {
        **settings.as_params(),
        "source": source,
        "training_dir": training_dir or "",
        "max_rows": str(max_rows or ""),
        "triage_rows": str(len(triage_rows)),
        "intent_rows": str(len(intent_rows)),
        "data_version": version,
    }
    record_in_mlflow(
        uri, run_id, params=params, metrics=metrics, texts=artifact_texts(models, files)
    )
    registered = {
        kind: register_classifier(uri, run_id, kind, text) for kind, text in files.items()
    }
    content_hash = write_into_bundle(bundle_dir, files)
    create_markdown_artifact(
        key="classifier-training",
        markdown=f"# Classifiers {version}\n\nMLflow run `{run_id}`; registered "
        + ", ".join(f"{REGISTERED_MODELS[k]} v{v}" for k, v in registered.items())
        + f"\n\n{metrics_table(metrics)}\n",
        description=f"Training of the classifiers {version}",
    )
    print(f"classifiers {version}: run {run_id}, registered {registered}, bundle {content_hash}")
    return {
        "run_id": run_id,
        "registered": registered,
        "versions": {kind: model.spec.version for kind, model in models.items()},
        "metrics": metrics,
        "content_hash": content_hash,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Train the triage and intent classifiers, register them in MLflow and "
        "write them into the bundle."
    )
    parser.add_argument("--bundle", default="prompts")
    parser.add_argument("--source", default=str(MESSAGES.parent))
    parser.add_argument("--training-dir", default=None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    result = train_models(
        bundle=args.bundle,
        source=args.source,
        training_dir=args.training_dir,
        seed=args.seed,
        max_rows=args.max_rows,
        tracking_uri=args.tracking_uri,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}, indent=2))


if __name__ == "__main__":
    main()
