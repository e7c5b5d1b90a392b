"""From a prompt engineer's change to what patients get: the promotion loop end to end.

Production serves the repository's bundle. A prompt engineer rewords a prompt, releases 1.1.0
and, by mistake, drops an emergency rule: the bundle is valid (it loads, its hash matches), so
only the evaluation can catch it. `promote` refuses it and the serving app keeps answering with
the old version. With the rule restored, `promote` passes, the alias moves, and the same
serving app, never restarted, answers with the new version. `rollback` takes it back.

A bundle whose triage classifier would lower labelled emergencies is refused the same way,
whatever the rules catch; the same bundle with a sound classifier passes that gate.

Real Prefect (test server), real MLflow (SQLite in a temp dir), the real app over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.datasets import load_messages
from evals.triage_model import EMERGENCY_HEAD
from flows.mlflow_setup import local_tracking_uri, mlflow_client
from flows.promote import promote, rollback
from serving.app import create_app
from serving.bundle.load import load_bundle, model_path, rehash
from serving.bundle.registry import BundleRegistry
from serving.bundle.source import BundleSource
from serving.db.engine import Database
from serving.safety.classifier import ClassifierFile
from serving.settings import REPOSITORY_BUNDLE
from tests.asgi import running
from tests.classifier_models import train
from tests.conftest import HELDOUT_BOOKINGS_FIXTURE, HELDOUT_FIXTURE, make_settings

pytestmark = pytest.mark.usefixtures("prefect_api")

SAMPLE_EVERY = 12
"""A slice that still holds emergencies of both splits, some caught only by the rule below."""
DROPPED_RULE = "emergency.swallowing_difficulty"
MODEL_NAME = "dental-clinic-assistant-bundle"


def drop_emergency_rule(bundle: Path, rule_id: str) -> None:
    """Delete one rule from safety/rules.yaml, as an edit would, and re-hash the bundle."""
    rules = bundle / "safety/rules.yaml"
    lines = rules.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(f"  - id: {rule_id}\n")
    end = next(
        i
        for i in range(start + 1, len(lines))
        if lines[i].startswith("  - id: ") or not lines[i].startswith(" ")
    )
    rules.write_text("".join(lines[:start] + lines[end:]), encoding="utf-8")
    rehash(bundle)


def release(destination: Path, version: str, prompt_addition: str) -> Path:
    """A copy of prompts/ at `version`, with a sentence added to Alex's English prompt."""
    shutil.copytree(REPOSITORY_BUNDLE, destination)
    manifest = destination / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    manifest.write_text(
        yaml.safe_dump({**data, "version": version}, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    prompt = destination / "agents/alex.en.md"
    prompt.write_text(
        prompt.read_text(encoding="utf-8") + f"\n{prompt_addition}\n", encoding="utf-8"
    )
    rehash(destination)
    return destination


async def run_promote(bundle: Path, tracking_uri: str) -> dict[str, Any]:
    # In a worker thread, as a Prefect worker would run it: the flow runs its own event loop.
    return await asyncio.to_thread(
        promote,
        bundle=str(bundle),
        sample_every=SAMPLE_EVERY,
        heldout=str(HELDOUT_FIXTURE),
        heldout_bookings=str(HELDOUT_BOOKINGS_FIXTURE),
        tracking_uri=tracking_uri,
    )


def artifact_text(tracking_uri: str, run_id: str, path: str) -> str:
    local = mlflow_client(tracking_uri).download_artifacts(run_id, path)
    return Path(local).read_text(encoding="utf-8")


async def served(client: Any) -> tuple[str, str]:
    """The bundle /api/version reports, and the one a patient's reply was produced by."""
    version = (await client.get("/api/version")).json()["bundle"]
    reply = await client.post(
        "/api/v1/chat", json={"user_id": "promotion", "text": "What are your opening hours?"}
    )
    assert reply.status_code == 200, reply.text
    return version, reply.json()["bundle_version"]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_bundle_missing_an_emergency_is_refused_and_the_fixed_one_goes_live(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    tracking_uri = local_tracking_uri(tmp_path / "mlflow")
    registry = BundleRegistry(tracking_uri, MODEL_NAME)
    client = mlflow_client(tracking_uri)

    # Production serves the repository's bundle, promoted like any other.
    original = tmp_path / "original"
    shutil.copytree(REPOSITORY_BUNDLE, original)
    seeded = await run_promote(original, tracking_uri)
    assert seeded["decision"] == "promoted", seeded["report"]
    old = registry.alias()
    assert old is not None and old.bundle_version == load_bundle(original).version
    assert old.run_id == seeded["run_id"]

    settings = make_settings(
        database_url,
        mlflow_tracking_uri=tracking_uri,
        bundle_cache_dir=tmp_path / "bundles",
        bundle_poll_seconds=3600,  # the test asks for the refresh a poll would do
    )
    app = create_app(settings, database=database)
    source: BundleSource = app.state.bundle_source
    async with running(app) as http:
        assert await served(http) == (old.bundle_version, old.bundle_version)

        # The change: a reworded prompt, released as 1.1.0, and an emergency rule dropped, in
        # a bundle that serves rules only (the shipped classifier was trained on dev and would
        # catch those dev messages itself: this is the rules' gate at work).
        candidate = release(tmp_path / "candidate", "1.1.0", "Keep every answer short.")
        model_path(candidate, "triage").unlink()
        drop_emergency_rule(candidate, DROPPED_RULE)
        load_bundle(candidate)  # valid as a bundle: only the evaluation can catch this

        refused = await run_promote(candidate, tracking_uri)
        assert refused["decision"] == "refused"
        assert any(
            reason.startswith("dev.emergency_recall is ") and "an emergency was missed" in reason
            for reason in refused["reasons"]
        ), refused["reasons"]
        assert registry.alias() == old
        assert await source.refresh() is False
        assert await served(http) == (old.bundle_version, old.bundle_version)
        run = client.get_run(refused["run_id"])
        assert run.data.tags["promotion"] == "refused"
        assert run.data.metrics["dev.emergency_recall"] < 1.0
        why = artifact_text(tracking_uri, refused["run_id"], "promotion.md")
        assert "production is unchanged" in why and "dev.emergency_recall" in why

        # The rule restored (copied back from the reviewed bundle, then re-hashed).
        shutil.copyfile(original / "safety/rules.yaml", candidate / "safety/rules.yaml")
        rehash(candidate)
        passed = await run_promote(candidate, tracking_uri)
        assert passed["decision"] == "promoted", passed["report"]
        new = registry.alias()
        assert new is not None and new != old
        assert new.bundle_version == passed["bundle_version"] == load_bundle(candidate).version
        assert new.bundle_version.startswith("dental-clinic-assistant@1.1.0+")
        assert new.run_id == passed["run_id"]
        assert f"Compared with: version {old.model_version}" in passed["report"]

        # The same app, not restarted, answers with the new bundle.
        assert await source.refresh() is True
        assert await served(http) == (new.bundle_version, new.bundle_version)

        # And `rollback` takes production back.
        back = await asyncio.to_thread(rollback, tracking_uri=tracking_uri)
        assert back["model_version"] == old.model_version
        assert await source.refresh() is True
        assert await served(http) == (old.bundle_version, old.bundle_version)


# -- the triage classifier ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def triage_model() -> ClassifierFile:
    """A small triage classifier fitted on the dev messages, in the bundle's file format
    (`tests/classifier_models.py::train`: EMERGENCY vs the rest, DOCTOR_REQUIRED-or-EMERGENCY
    vs routine, uncalibrated, acting at 0.5)."""
    dev = load_messages()
    return train(
        [m.text for m in dev],
        {
            EMERGENCY_HEAD: [m.urgency == "EMERGENCY" for m in dev],
            "DOCTOR_REQUIRED": [m.urgency != "ROUTINE" for m in dev],
        },
        kind="triage",
        version="test-fit",
    )


def with_triage_model(bundle: Path, model: ClassifierFile) -> Path:
    """`model` as the bundle's models/triage.json, re-hashed as a reviewed change would be."""
    path = model_path(bundle, "triage")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model.model_dump_json(), encoding="utf-8")
    rehash(bundle)
    return bundle


def sabotaged(model: ClassifierFile) -> ClassifierFile:
    """The same model with its EMERGENCY head turned upside down (weights and intercept
    negated): it now scores emergencies lowest."""
    column = 1 + [head.label for head in model.heads].index(EMERGENCY_HEAD)
    heads = [
        head.model_copy(update={"intercept": -head.intercept})
        if head.label == EMERGENCY_HEAD
        else head
        for head in model.heads
    ]
    rows = {
        name: [*row[:column], -row[column], *row[column + 1 :]]
        for name, row in model.features.items()
    }
    return ClassifierFile.model_validate(
        {**json.loads(model.model_dump_json()), "heads": heads, "features": rows}
    )


async def test_a_bundle_whose_classifier_lowers_an_emergency_is_refused(
    tmp_path: Path, triage_model: ClassifierFile
) -> None:
    tracking_uri = local_tracking_uri(tmp_path / "mlflow")
    registry = BundleRegistry(tracking_uri, MODEL_NAME)

    sound = release(tmp_path / "sound", "1.2.0", "Answer in the patient's language.")
    passed = await run_promote(with_triage_model(sound, triage_model), tracking_uri)
    assert not any("triage classifier" in reason for reason in passed["reasons"]), passed["reasons"]
    metrics = mlflow_client(tracking_uri).get_run(passed["run_id"]).data.metrics
    assert metrics["triage_model.dev.emergency_head_recall"] >= 0.9
    assert metrics["triage_model.dev.emergencies"] >= 4

    broken = release(tmp_path / "broken", "1.2.1", "Answer in the patient's language.")
    serving = registry.alias()
    refused = await run_promote(with_triage_model(broken, sabotaged(triage_model)), tracking_uri)
    assert refused["decision"] == "refused"
    total = int(metrics["triage_model.dev.emergencies"])
    [reason] = [r for r in refused["reasons"] if "triage classifier" in r]
    assert reason.startswith("the triage classifier would lower ")
    assert f" of {total} dev emergencies" in reason
    lowered = int(reason.removeprefix("the triage classifier would lower ").split()[0])
    assert lowered > total * 0.1
    why = artifact_text(tracking_uri, refused["run_id"], "promotion.md")
    assert reason in why
    assert registry.alias() == serving  # production is unchanged
