"""Small learned classifiers for tests, written in the bundle's `models/<kind>.json` format.

`train` fits what the production trainer fits (TF-IDF over `serving.safety.classifier.features`,
sublinear TF, one logistic regression per head) without calibration (a=1, b=0, so a head's
probability is scikit-learn's own `predict_proba`); `constant` makes a classifier whose every
head says the same probability whatever the text, for tests of how serving uses the numbers.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from serving.bundle.load import rehash
from serving.safety.classifier import ClassifierFile, Head, Kind, features
from serving.settings import REPOSITORY_BUNDLE


def fit(
    texts: Sequence[str], positives: Mapping[str, Sequence[bool]]
) -> tuple[TfidfVectorizer, dict[str, LogisticRegression]]:
    """One vectorizer over `texts` and one logistic regression per head label."""
    vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True)
    matrix = vectorizer.fit_transform(texts)
    heads = {
        label: LogisticRegression(C=10.0, max_iter=2000).fit(matrix, [int(p) for p in flags])
        for label, flags in positives.items()
    }
    return vectorizer, heads


def to_file(
    vectorizer: TfidfVectorizer,
    heads: Mapping[str, LogisticRegression],
    *,
    kind: Kind,
    version: str,
    thresholds: Mapping[str, float],
) -> ClassifierFile:
    models = list(heads.values())
    return ClassifierFile(
        schema_version=1,
        kind=kind,
        version=version,
        heads=[
            Head(
                label=label,
                intercept=float(model.intercept_[0]),
                calibration_a=1.0,
                calibration_b=0.0,
                threshold=thresholds[label],
            )
            for label, model in heads.items()
        ],
        features={
            name: [float(vectorizer.idf_[column])]
            + [float(model.coef_[0][column]) for model in models]
            for name, column in vectorizer.vocabulary_.items()
        },
    )


def train(
    texts: Sequence[str],
    positives: Mapping[str, Sequence[bool]],
    *,
    kind: Kind,
    version: str = "test-1",
    threshold: float = 0.5,
) -> ClassifierFile:
    vectorizer, heads = fit(texts, positives)
    return to_file(
        vectorizer,
        heads,
        kind=kind,
        version=version,
        thresholds=dict.fromkeys(positives, threshold),
    )


def constant(
    kind: Kind,
    probabilities: Mapping[str, float],
    *,
    threshold: float = 0.5,
    version: str = "c1",
    uncorroborated: float = 0.9,
) -> ClassifierFile:
    """Every head says its probability for any text (no features; the intercept decides)."""
    return ClassifierFile(
        schema_version=1,
        kind=kind,
        version=version,
        uncorroborated_threshold=uncorroborated,
        heads=[
            Head(
                label=label,
                intercept=math.log(p / (1 - p)),
                calibration_a=1.0,
                calibration_b=0.0,
                threshold=threshold,
            )
            for label, p in probabilities.items()
        ],
        features={},
    )


def bundle_with(destination: Path, models: Mapping[Kind, ClassifierFile | str]) -> Path:
    """The repository's bundle copied to `destination` with exactly these `models/<kind>.json`
    files (a `ClassifierFile`, or raw text for a broken file), and re-hashed."""
    shutil.copytree(REPOSITORY_BUNDLE, destination)
    shutil.rmtree(destination / "models", ignore_errors=True)
    (destination / "models").mkdir()
    for kind, model in models.items():
        text = model if isinstance(model, str) else model.model_dump_json()
        (destination / "models" / f"{kind}.json").write_text(text, encoding="utf-8")
    rehash(destination)
    return destination
