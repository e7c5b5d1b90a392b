"""The learned classifiers' training: data built from dev only, paraphrases that keep labels,
determinism, the exported file scoring exactly as scikit-learn does, thresholds that keep their
out-of-fold promises, and the Prefect flow registering both models in a real MLflow store (a
SQLite file in a temp dir)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from evals.datasets import DatasetError, LabelledMessage, load_messages, load_tuning
from evals.training import (
    TrainedModel,
    TrainingSettings,
    classifier_json,
    data_version,
    train_intent,
    train_triage,
)
from evals.training_data import (
    ADMIN_INTENTS,
    INTENT_FILE,
    MANIFEST_FILE,
    SOCIAL_INTENTS,
    TRIAGE_FILE,
    TrainingRow,
    build_training_rows,
    limit_rows,
    load_phrases,
    paraphrase,
    write_training_data,
)
from flows.mlflow_setup import local_tracking_uri, mlflow_client
from flows.train import REGISTERED_MODELS, TRAINING_EXPERIMENT, train_models
from serving.bundle.load import BundleError, load_bundle, rehash
from serving.safety.classifier import ClassifierFile, TextClassifier
from serving.settings import REPOSITORY_BUNDLE

REPOSITORY = Path(__file__).resolve().parent.parent
EVAL = REPOSITORY / "data" / "eval"
SMALL = 1000  # about one row per dev message (828) and a few more
"""Rows per model in the quick runs: about two per dev message."""
PUNCTUATION = re.compile(r"[.,!?;:]")
MESSAGES = [
    "my tooth hurts when i drink something cold",
    "השן כואבת לי מאוד ויש נפיחות בלחי",
    "hi can i book a cleaning next week? thanks!!",
    "ממש דחוף!!! הילד נפל והשן יצאה",
    "my tooth כואבת מאוד since yesterday",
    "?!",
    "x" * 3000,
]


@pytest.fixture(scope="module")
def dev() -> list[LabelledMessage]:
    return [*load_messages(EVAL / "messages.jsonl"), *load_tuning(EVAL / "tuning.jsonl")]


@pytest.fixture(scope="module")
def rows() -> list[TrainingRow]:
    return build_training_rows(EVAL)


@pytest.fixture(scope="module")
def small_rows(rows: list[TrainingRow]) -> list[TrainingRow]:
    return limit_rows(rows, SMALL)


@pytest.fixture(scope="module")
def triage(small_rows: list[TrainingRow]) -> TrainedModel:
    return train_triage(small_rows, TrainingSettings(), version="triage-test")


@pytest.fixture(scope="module")
def intent(small_rows: list[TrainingRow]) -> TrainedModel:
    return train_intent(small_rows, TrainingSettings(), version="intent-test")


# ---------------------------------------------------------------------------------------------
# Training data
# ---------------------------------------------------------------------------------------------


def test_training_data_comes_from_dev_messages_only(
    rows: list[TrainingRow], dev: list[LabelledMessage], tmp_path: Path
) -> None:
    assert {row.origin for row in rows} == {message.id for message in dev}
    originals = {row.origin: row.text for row in rows if row.augmentation == "original"}
    assert originals == {message.id: message.text for message in dev}

    # A held-out row slipped into the source stops the build: it never reaches training.
    source = tmp_path / "eval"
    source.mkdir()
    marker = LabelledMessage(
        id="h9999",
        text="zebra quartz unmistakable",
        language="en",
        urgency="EMERGENCY",
        intent="emergency",
        split="heldout",
    )
    lines = [m.model_dump_json() for m in dev[:30]] + [marker.model_dump_json()]
    (source / "messages.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="h9999: split 'heldout'"):
        build_training_rows(source)


def test_a_source_without_dev_messages_is_refused(tmp_path: Path) -> None:
    (tmp_path / "messages.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="no dev messages"):
        build_training_rows(tmp_path)


def test_paraphrases_keep_the_labels(rows: list[TrainingRow], dev: list[LabelledMessage]) -> None:
    by_id = {message.id: message for message in dev}
    kinds: Counter[str] = Counter()
    for row in rows:
        source = by_id[row.origin]
        kinds.update(row.augmentation.split("+"))
        assert (row.urgency, row.language) == (source.urgency, source.language)
        if row.intent is None:
            # Only small talk or a run-on opener around a greeting or a goodbye drops the intent.
            assert source.intent in SOCIAL_INTENTS, row
            assert {"small_talk", "run_on"} & set(row.augmentation.split("+")), row
        else:
            assert row.intent == source.intent
        if "denial" in row.augmentation:
            assert source.urgency == "ROUTINE" and source.intent in ADMIN_INTENTS
        if "prefix" in row.augmentation:
            assert source.language == "he"
    assert set(kinds) == {
        "original", "typo", "plain", "run_on", "prefix", "filler", "small_talk", "denial"
    }  # fmt: skip
    # Each message has its paraphrases, and none repeats the message itself.
    per_origin = Counter(row.origin for row in rows)
    assert min(per_origin.values()) >= 6
    assert len({(row.origin, row.text) for row in rows}) == len(rows)


def test_each_transformation_does_what_it_says() -> None:
    phrases = load_phrases()
    english = LabelledMessage(
        id="t1",
        text="Need to move my cleaning, the Tuesday one. Is Thursday OK?",
        language="en",
        urgency="ROUTINE",
        intent="reschedule_appointment",
        split="dev",
    )
    hebrew = LabelledMessage(
        id="t2",
        text="כואב לי בשן הטוחנת, מה לעשות?",
        language="he",
        urgency="DOCTOR_REQUIRED",
        intent="medical_question",
        split="dev",
    )
    made = {row.augmentation: row.text for row in paraphrase(english, phrases, seed=3)}
    assert not PUNCTUATION.search(made["plain"])
    assert not PUNCTUATION.search(made["run_on"]) and made["run_on"] == made["run_on"].lower()
    assert english.text in made["small_talk"]
    assert made["denial"].endswith(english.text)
    assert any(made["denial"].startswith(d) for d in phrases.denials["en"])
    assert any(f" {f} " in f" {made['filler']} " for f in phrases.fillers["en"])
    assert made["typo"] != english.text and len(made["typo"].split()) == len(english.text.split())
    assert "prefix" not in made  # English has no attached prefixes
    assert "denial" not in {r.augmentation for r in paraphrase(hebrew, phrases, seed=3)}
    hebrew_made = {row.augmentation: row.text for row in paraphrase(hebrew, phrases, seed=3)}
    assert hebrew_made["prefix"] != hebrew.text


def test_the_same_seed_gives_the_same_files(rows: list[TrainingRow], tmp_path: Path) -> None:
    first = write_training_data(rows, tmp_path / "a", seed=11)
    second = write_training_data(build_training_rows(EVAL), tmp_path / "b", seed=11)
    for name in (TRIAGE_FILE, INTENT_FILE, MANIFEST_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    digest = hashlib.sha256((tmp_path / "a" / TRIAGE_FILE).read_bytes()).hexdigest()
    assert first["files"][TRIAGE_FILE]["sha256"] == digest  # type: ignore[index]
    assert first == second
    other = build_training_rows(EVAL, seed=12)
    assert [r.text for r in other] != [r.text for r in rows]
    assert data_version(rows, TrainingSettings()) != data_version(other, TrainingSettings())


def test_limit_rows_keeps_every_message(rows: list[TrainingRow]) -> None:
    small = limit_rows(rows, SMALL)
    assert len(small) <= SMALL
    assert {r.origin for r in small} == {r.origin for r in rows}
    assert {r.origin for r in small if r.augmentation == "original"} == {r.origin for r in rows}


# ---------------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["triage", "intent"])
def test_the_exported_file_scores_as_scikit_learn_does(
    kind: str, triage: TrainedModel, intent: TrainedModel
) -> None:
    model = triage if kind == "triage" else intent
    text = classifier_json(model.spec)
    spec = ClassifierFile.model_validate_json(text)
    assert spec == model.spec
    classifier = TextClassifier(spec)
    expected = model.models.decision_function(MESSAGES)
    actual = np.array([classifier.scores(message) for message in MESSAGES])
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)
    assert np.abs(expected[:4]).max() > 0.1  # real scores, not all intercepts


def test_triage_heads_and_thresholds_keep_their_out_of_fold_promises(
    triage: TrainedModel, small_rows: list[TrainingRow]
) -> None:
    assert [h.label for h in triage.spec.heads] == ["EMERGENCY", "DOCTOR_REQUIRED"]
    emergency, doctor = (h.threshold for h in triage.spec.heads)
    probability = triage.out_of_fold
    urgency = np.array([row.urgency for row in small_rows])
    routine, is_emergency = urgency == "ROUTINE", urgency == "EMERGENCY"
    fires = probability[:, 0] >= emergency

    settings = TrainingSettings()
    assert fires[routine].mean() <= settings.false_emergency_limit
    recall = fires[is_emergency].mean()
    assert recall > 0.3  # it learned something
    # No threshold keeping false emergencies within the limit catches more emergencies ...
    for t in np.unique(probability[:, 0]):
        if (probability[routine, 0] >= t).mean() <= settings.false_emergency_limit:
            assert (probability[is_emergency, 0] >= t).mean() <= recall
    # ... and it is the highest that catches as many: the lowest emergency caught sits on it.
    assert probability[is_emergency & fires, 0].min() == pytest.approx(emergency)

    kept = ~fires & (probability[:, 1] < doctor)
    assert kept[routine].mean() >= settings.routine_kept_target
    lower = probability[:, 1][probability[:, 1] < doctor]
    if lower.size:  # the next lower threshold would keep too few routine rows
        below = ~fires & (probability[:, 1] < lower.max())
        assert below[routine].mean() < settings.routine_kept_target

    dev_figures = {k: v for k, v in triage.metrics.items() if k.startswith("dev.")}
    assert set(dev_figures) >= {
        f"dev.{language}.{name}"
        for language in ("en", "he", "all")
        for name in ("emergency_recall", "doctor_required_recall", "false_emergency_rate")
    }
    assert triage.confusion["dev.he"]["labels"] == ["ROUTINE", "DOCTOR_REQUIRED", "EMERGENCY"]
    he_originals = sum(1 for r in small_rows if r.language == "he" and r.augmentation == "original")
    assert sum(map(sum, triage.confusion["dev.he"]["matrix"])) == he_originals


def test_intent_has_a_head_per_intent_present(
    intent: TrainedModel, small_rows: list[TrainingRow]
) -> None:
    present = sorted({str(r.intent) for r in small_rows if r.intent is not None})
    assert [h.label for h in intent.spec.heads] == present
    assert {h.threshold for h in intent.spec.heads} == {TrainingSettings().intent_threshold}
    assert 0.0 < intent.metrics["dev.he.intent_accuracy"] <= 1.0
    assert len(json.dumps(intent.spec.model_dump())) < 2_500_000


def test_the_shipped_classifiers_load_and_match_the_bundle() -> None:
    for kind in ("triage", "intent"):
        path = REPOSITORY_BUNDLE / "models" / f"{kind}.json"
        spec = ClassifierFile.model_validate_json(path.read_text(encoding="utf-8"))
        assert spec.kind == kind and spec.version.startswith(f"{kind}-")
        assert path.stat().st_size < 2_000_000
    load_bundle(REPOSITORY_BUNDLE)  # the manifest's hash covers them


# ---------------------------------------------------------------------------------------------
# The flow
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(REPOSITORY_BUNDLE, target)
    shutil.rmtree(target / "models")  # so the flow is seen writing them
    rehash(target)
    return target


def test_the_train_flow_records_registers_and_writes_the_bundle(
    prefect_api: str, bundle_copy: Path, tmp_path: Path
) -> None:
    tracking_uri = local_tracking_uri(tmp_path / "mlflow")
    result = train_models(bundle=str(bundle_copy), max_rows=SMALL, tracking_uri=tracking_uri)

    client = mlflow_client(tracking_uri)
    import mlflow.pyfunc  # after mlflow_client has turned MLflow's telemetry off

    run = client.get_run(result["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == TRAINING_EXPERIMENT
    assert run.info.status == "FINISHED"
    assert run.data.params["max_rows"] == str(SMALL)
    assert int(run.data.params["triage_rows"]) <= SMALL
    for language in ("en", "he"):
        assert f"triage.dev.{language}.emergency_recall" in run.data.metrics
        assert f"intent.dev.{language}.intent_accuracy" in run.data.metrics
    listed = {a.path for a in client.list_artifacts(result["run_id"], "confusion/triage")}
    assert "confusion/triage/dev.he.csv" in listed

    for kind, name in REGISTERED_MODELS.items():
        [version] = client.search_model_versions(f"name='{name}'")
        assert str(version.version) == result["registered"][kind] == "1"
        assert version.run_id == result["run_id"]
        written = bundle_copy / "models" / f"{kind}.json"
        spec = ClassifierFile.model_validate_json(written.read_text(encoding="utf-8"))
        assert spec.version == result["versions"][kind]
        logged = client.download_artifacts(result["run_id"], f"classifiers/{kind}.json")
        assert Path(logged).read_bytes() == written.read_bytes()

        # The registered model is the bundle's classifier: same probabilities.
        local = client.download_artifacts(result["run_id"], f"model/{kind}")
        predicted = mlflow.pyfunc.load_model(local).predict(MESSAGES[:3])
        expected = [dict(TextClassifier(spec).predict(m).probabilities) for m in MESSAGES[:3]]
        assert predicted == expected

    assert load_bundle(bundle_copy).manifest.content_hash == result["content_hash"]


def test_the_train_flow_refuses_a_broken_bundle_before_training(
    prefect_api: str, bundle_copy: Path, tmp_path: Path
) -> None:
    prompt = bundle_copy / "agents/alex.en.md"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nunreviewed\n", encoding="utf-8")
    tracking_uri = local_tracking_uri(tmp_path / "mlflow")
    with pytest.raises(BundleError, match="does not match the files"):
        train_models(bundle=str(bundle_copy), max_rows=SMALL, tracking_uri=tracking_uri)
    assert mlflow_client(tracking_uri).get_experiment_by_name(TRAINING_EXPERIMENT) is None
    assert not (bundle_copy / "models").exists()
