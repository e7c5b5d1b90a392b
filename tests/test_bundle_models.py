"""The learned classifiers in a bundle: loading, refusals, and scores equal to scikit-learn's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from evals.datasets import load_messages
from evals.runner import evaluate_messages
from serving.agents.offline.model import OfflineClinicModel
from serving.bundle.load import BundleError, load_bundle
from serving.bundle.runtime import build_runtime
from serving.clinic import load_clinic_profile
from serving.safety.classifier import Prediction, TextClassifier
from serving.safety.triage import Urgency
from tests.classifier_models import bundle_with, constant, fit, to_file

TODAY = date(2026, 11, 26)
DEV = load_messages()
TRIAGE_HEADS = {"EMERGENCY": 0.95, "DOCTOR_REQUIRED": 0.95}  # sure without health talk too
INTENT_HEADS = {"book_appointment": 0.9, "cancel_appointment": 0.05}


def test_scores_equal_scikit_learns_decision_function() -> None:
    texts = [m.text for m in DEV]
    vectorizer, heads = fit(
        texts,
        {
            "EMERGENCY": [m.urgency == "EMERGENCY" for m in DEV],
            "DOCTOR_REQUIRED": [m.urgency != "ROUTINE" for m in DEV],
        },
    )
    classifier = TextClassifier(
        to_file(vectorizer, heads, kind="triage", version="t", thresholds=TRIAGE_HEADS)
    )
    # Seen texts, unseen words, repeated words (sublinear TF), and nothing known at all.
    probes = [*texts, "zzzz qqqq", "pain pain pain pain in my jaw", "כואב לי כואב לי מאוד", "?"]
    expected = np.column_stack(
        [model.decision_function(vectorizer.transform(probes)) for model in heads.values()]
    )
    actual = np.array([classifier.scores(text) for text in probes])
    assert np.abs(actual - expected).max() < 1e-9
    probabilities = heads["EMERGENCY"].predict_proba(vectorizer.transform(probes))[:, 1]
    predicted = [classifier.predict(text).probabilities["EMERGENCY"] for text in probes]
    assert np.abs(np.array(predicted) - probabilities).max() < 1e-9


def test_a_bundle_without_models_serves_rules_only(tmp_path: Path) -> None:
    bundle = load_bundle(bundle_with(tmp_path / "b", {}))
    assert bundle.triage_model is None and bundle.intent_model is None
    runtime = build_runtime(bundle, load_clinic_profile, architecture="alex")
    triage = runtime.triager.triage("knocked out my tooth, bleeding")
    assert triage.urgency is Urgency.EMERGENCY
    assert triage.decided_by == ",".join(triage.reasons) and triage.reasons
    assert triage.score is None
    assert runtime.nlu.understand("qwerty zxcv", today=TODAY).intent_source == "rules"


def test_a_bundle_with_models_loads_them_into_the_runtime(tmp_path: Path) -> None:
    bundle = load_bundle(
        bundle_with(
            tmp_path / "b",
            {
                "triage": constant("triage", TRIAGE_HEADS, version="tri-7"),
                "intent": constant("intent", INTENT_HEADS, version="int-3"),
            },
        )
    )
    assert bundle.triage_model is not None and bundle.triage_model.version == "tri-7"
    assert bundle.intent_model is not None and bundle.intent_model.version == "int-3"
    runtime = build_runtime(bundle, load_clinic_profile, architecture="team")
    triage = runtime.triager.triage("I want to book a cleaning")
    assert (triage.urgency, triage.decided_by) == (Urgency.EMERGENCY, "model:triage@tri-7")
    understood = OfflineClinicModel.from_bundle(bundle).nlu.understand(
        "qwerty zxcv asdf", today=TODAY
    )
    assert (understood.intent.value, understood.intent_source) == (
        "book_appointment",
        "model:intent@int-3",
    )


def test_the_models_are_inside_the_manifest_hash(tmp_path: Path) -> None:
    root = bundle_with(tmp_path / "b", {"triage": constant("triage", TRIAGE_HEADS)})
    path = root / "models" / "triage.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["heads"][0]["threshold"] = 0.01
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BundleError, match="does not match the files"):
        load_bundle(root)


@pytest.mark.parametrize(
    ("kind", "content", "problem"),
    [
        ("triage", '{"schema_version": 1, "kind": ', r"triage\.json: not valid JSON \(line 1"),
        ("intent", "[1, 2]", r"intent\.json: \(top\): Input should be a valid dictionary"),
        (
            "triage",
            constant("triage", TRIAGE_HEADS).model_dump_json().replace('"c1"', '""'),
            r"triage\.json: version: String should have at least 1 character",
        ),
        (
            "triage",
            constant("intent", INTENT_HEADS).model_dump_json(),
            r"triage\.json: a 'intent' classifier where a 'triage' one belongs",
        ),
        (
            "intent",
            constant("intent", {"book_appointment": 0.5, "teeth_whitening": 0.5}).model_dump_json(),
            r"intent\.json: head labels \['teeth_whitening'\] are not intent labels",
        ),
        (
            "triage",
            constant("triage", {"EMERGENCY": 0.5, "ROUTINE": 0.5}).model_dump_json(),
            r"triage\.json: head labels \['ROUTINE'\] are not triage labels",
        ),
        (
            "triage",
            constant("triage", {"EMERGENCY": 0.5}).model_dump_json(),
            r"triage\.json: a triage classifier needs both heads",
        ),
    ],
)
def test_an_invalid_model_file_is_refused_naming_it(
    tmp_path: Path, kind: str, content: str, problem: str
) -> None:
    root = bundle_with(tmp_path / "b", {kind: content})  # type: ignore[dict-item]
    with pytest.raises(BundleError, match=problem):
        load_bundle(root)


async def test_a_turn_asks_the_triage_classifier_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    predict = TextClassifier.predict

    def counted(self: TextClassifier, text: str) -> Prediction:
        asked.append(self.kind)
        return predict(self, text)

    monkeypatch.setattr(TextClassifier, "predict", counted)
    bundle = bundle_with(tmp_path / "b", {"triage": constant("triage", TRIAGE_HEADS)})
    messages = [m for m in DEV if m.urgency == "ROUTINE"][:3]
    outcomes = await evaluate_messages(messages, bundle_path=bundle)
    assert [o.urgency for o in outcomes] == ["EMERGENCY"] * 3
    assert asked == ["triage"] * 3
