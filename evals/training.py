"""Fitting the triage and intent classifiers, and writing them as `ClassifierFile`s.

Pure functions over training rows (`evals.training_data`); `flows/train.py` runs them and
records the result in MLflow. Each model is one `TfidfVectorizer` over
`serving.safety.classifier.features` and one class-balanced logistic regression per head:

- triage: "EMERGENCY" (emergency vs the rest) and "DOCTOR_REQUIRED" (doctor-required or
  emergency vs routine);
- intent: one head per intent in the data (that intent vs the rest); serving takes the best.

Every figure here is out of fold: the rows are split into folds grouped by the dev message they
were made from (`origin`), so a message and its paraphrases are always on the same side, and
each row is scored by a model that never saw it or any paraphrase of it. On those scores:

- each head's Platt calibration P = sigmoid(a·score + b) is fitted;
- the EMERGENCY threshold is the highest probability that still catches as many emergencies
  as any threshold raising at most `false_emergency_limit` of routine rows to EMERGENCY;
- the DOCTOR_REQUIRED threshold is the lowest that keeps at least `routine_kept_target` of
  routine rows ROUTINE (neither head acting);
- intent heads act at `intent_threshold` (0.5: the head thinks its intent more likely than
  not; below it serving keeps the rules' intent).

The exported file keeps every feature of the vectorizer's vocabulary, not only those with a
weight: the L2 norm runs over all of a message's known features, so dropping one would change
every score it takes part in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from evals.training_data import TrainingRow
from serving.safety.classifier import ClassifierFile, Head, Kind, features

URGENCIES = ("ROUTINE", "DOCTOR_REQUIRED", "EMERGENCY")
TRIAGE_HEADS = ("EMERGENCY", "DOCTOR_REQUIRED")
LANGUAGES = ("en", "he")

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingSettings:
    """What a training run can vary; all of it is logged as the run's params."""

    seed: int = 11
    folds: int = 5
    regularization: float = 4.0
    """LogisticRegression's C (larger = weaker L2 penalty)."""
    triage_max_features: int = 20000
    intent_max_features: int = 8000
    """Fewer than triage: 12 heads' weights per feature keep the file under ~2 MB."""
    min_df: int = 2
    false_emergency_limit: float = 0.01
    routine_kept_target: float = 0.95
    intent_threshold: float = 0.5
    significant_digits: int = 8
    """Weights and idf as written: 8 digits keep serving's score within ~1e-7 of scikit-learn's."""

    def as_params(self) -> dict[str, str]:
        return {name: str(value) for name, value in self.__dict__.items()}


@dataclass
class HeadModels:
    """A fitted vectorizer and one logistic regression per head: scikit-learn's view of a model."""

    vectorizer: TfidfVectorizer
    heads: list[LogisticRegression]

    def decision_function(self, texts: Sequence[str]) -> Matrix:
        """Raw linear scores, one column per head (what `TextClassifier.scores` reproduces)."""
        matrix = self.vectorizer.transform(texts)
        return np.column_stack([head.decision_function(matrix) for head in self.heads])


@dataclass
class TrainedModel:
    """A model ready to ship, with what its out-of-fold evaluation found."""

    spec: ClassifierFile
    models: HeadModels
    metrics: dict[str, float]
    confusion: dict[str, dict[str, Any]]
    """By "<scope>.<language>": {"labels": [...], "matrix": rows = true, columns = predicted}."""
    out_of_fold: Matrix = field(repr=False)
    """Calibrated out-of-fold probabilities, one column per head, one row per training row."""


def fit_heads(
    texts: Sequence[str], targets: NDArray[np.int_], max_features: int, settings: TrainingSettings
) -> HeadModels:
    """Fit the vectorizer on `texts` and one head per column of `targets` (0/1)."""
    vectorizer = TfidfVectorizer(
        analyzer=features,
        sublinear_tf=True,
        smooth_idf=True,
        norm="l2",
        min_df=settings.min_df,
        max_features=max_features,
        dtype=np.float64,
    )
    matrix = vectorizer.fit_transform(texts)
    heads = [
        LogisticRegression(
            C=settings.regularization,
            solver="liblinear",
            class_weight="balanced",
            random_state=settings.seed,
        ).fit(matrix, targets[:, column])
        for column in range(targets.shape[1])
    ]
    return HeadModels(vectorizer, heads)


def out_of_fold_scores(
    texts: Sequence[str],
    targets: NDArray[np.int_],
    *,
    strata: Sequence[str],
    groups: Sequence[str],
    max_features: int,
    settings: TrainingSettings,
) -> Matrix:
    """Each row's scores from a model fitted on the folds that hold neither it nor any row of
    its group; folds are stratified by `strata` (the label)."""
    per_class: dict[str, set[str]] = {}
    for stratum, group in zip(strata, groups, strict=True):
        per_class.setdefault(stratum, set()).add(group)
    splits = min(settings.folds, min(len(found) for found in per_class.values()))
    if splits < 2:
        raise ValueError("every label needs at least 2 source messages for out-of-fold scores")
    folds = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=settings.seed)
    scores = np.zeros(targets.shape, dtype=np.float64)
    text_array = np.asarray(texts, dtype=object)
    for train, test in folds.split(text_array, list(strata), list(groups)):
        models = fit_heads(list(text_array[train]), targets[train], max_features, settings)
        scores[test] = models.decision_function(list(text_array[test]))
    return scores


def platt_calibration(scores: NDArray[np.float64], target: NDArray[np.int_]) -> tuple[float, float]:
    """(a, b) of P = sigmoid(a·score + b), fitted by maximum likelihood (no penalty)."""
    model = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
    model.fit(scores.reshape(-1, 1), target)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def calibrated(scores: Matrix, calibration: Sequence[tuple[float, float]]) -> Matrix:
    a = np.array([pair[0] for pair in calibration])
    b = np.array([pair[1] for pair in calibration])
    result: Matrix = 1.0 / (1.0 + np.exp(-(scores * a + b)))
    return result


def emergency_threshold(
    probability: NDArray[np.float64], urgency: Sequence[str], *, false_emergency_limit: float
) -> float:
    """The highest threshold with the best emergency recall among those that raise at most
    `false_emergency_limit` of routine rows."""
    labels = np.asarray(urgency)
    emergency, routine = probability[labels == "EMERGENCY"], probability[labels == "ROUTINE"]
    candidates = np.unique(np.append(probability, 1.0))
    feasible = [
        (float(np.mean(emergency >= t)), float(t))
        for t in candidates
        if np.mean(routine >= t) <= false_emergency_limit
    ]
    best_recall = max(recall for recall, _ in feasible)
    return max(t for recall, t in feasible if recall == best_recall)


def doctor_threshold(
    doctor: NDArray[np.float64],
    emergency_fires: NDArray[np.bool_],
    urgency: Sequence[str],
    *,
    routine_kept_target: float,
) -> float:
    """The lowest threshold at which at least `routine_kept_target` of routine rows stay ROUTINE
    (neither head acting); 1.0 if even the EMERGENCY head alone raises more than that."""
    routine = np.asarray(urgency) == "ROUTINE"
    for t in np.unique(np.append(doctor, 1.0)):
        kept = np.mean(~(doctor[routine] >= t) & ~emergency_fires[routine])
        if kept >= routine_kept_target:
            return float(t)
    return 1.0


def triage_urgency(probabilities: Matrix, thresholds: Sequence[float]) -> list[str]:
    """What the triage heads alone decide, row by row (EMERGENCY before DOCTOR_REQUIRED)."""
    decided = []
    for emergency, doctor in probabilities:
        if emergency >= thresholds[0]:
            decided.append("EMERGENCY")
        elif doctor >= thresholds[1]:
            decided.append("DOCTOR_REQUIRED")
        else:
            decided.append("ROUTINE")
    return decided


def train_triage(
    rows: Sequence[TrainingRow], settings: TrainingSettings, *, version: str
) -> TrainedModel:
    texts = [row.text for row in rows]
    urgency = [row.urgency for row in rows]
    targets = np.array([[u == "EMERGENCY", u != "ROUTINE"] for u in urgency], dtype=np.int_)
    scores = out_of_fold_scores(
        texts,
        targets,
        strata=urgency,
        groups=[row.origin for row in rows],
        max_features=settings.triage_max_features,
        settings=settings,
    )
    calibration = [platt_calibration(scores[:, i], targets[:, i]) for i in range(2)]
    probabilities = calibrated(scores, calibration)
    emergency = emergency_threshold(
        probabilities[:, 0], urgency, false_emergency_limit=settings.false_emergency_limit
    )
    doctor = doctor_threshold(
        probabilities[:, 1],
        probabilities[:, 0] >= emergency,
        urgency,
        routine_kept_target=settings.routine_kept_target,
    )
    thresholds = [emergency, doctor]
    decided = triage_urgency(probabilities, thresholds)
    metrics, confusion = {}, {}
    for scope, language, chosen in _slices(rows):
        truth = [urgency[i] for i in chosen]
        predicted = [decided[i] for i in chosen]
        for name, value in triage_figures(truth, predicted).items():
            metrics[f"{scope}.{language}.{name}"] = value
        confusion[f"{scope}.{language}"] = confusion_matrix(truth, predicted, URGENCIES)
    metrics.update(threshold_emergency=emergency, threshold_doctor_required=doctor)
    models = fit_heads(texts, targets, settings.triage_max_features, settings)
    heads = _heads(TRIAGE_HEADS, models, calibration, thresholds, settings)
    spec = export(models, heads, kind="triage", version=version, metrics=metrics, settings=settings)
    return TrainedModel(spec, models, metrics, confusion, probabilities)


def train_intent(
    rows: Sequence[TrainingRow], settings: TrainingSettings, *, version: str
) -> TrainedModel:
    labelled = [row for row in rows if row.intent is not None]
    texts = [row.text for row in labelled]
    intents = [str(row.intent) for row in labelled]
    labels = sorted(set(intents))
    targets = np.array([[intent == label for label in labels] for intent in intents], dtype=np.int_)
    scores = out_of_fold_scores(
        texts,
        targets,
        strata=intents,
        groups=[row.origin for row in labelled],
        max_features=settings.intent_max_features,
        settings=settings,
    )
    calibration = [platt_calibration(scores[:, i], targets[:, i]) for i in range(len(labels))]
    probabilities = calibrated(scores, calibration)
    best = [labels[i] for i in np.argmax(probabilities, axis=1)]
    confident = np.max(probabilities, axis=1) >= settings.intent_threshold
    metrics: dict[str, float] = {}
    confusion = {}
    for scope, language, chosen in _slices(labelled):
        truth = [intents[i] for i in chosen]
        predicted = [best[i] for i in chosen]
        hits = [t == p for t, p in zip(truth, predicted, strict=True)]
        metrics[f"{scope}.{language}.intent_accuracy"] = sum(hits) / len(truth)
        # What serving would act on: the best head at or above its threshold.
        acted = [hit for hit, i in zip(hits, chosen, strict=True) if confident[i]]
        metrics[f"{scope}.{language}.intent_confident_share"] = len(acted) / len(truth)
        if acted:
            metrics[f"{scope}.{language}.intent_confident_accuracy"] = sum(acted) / len(acted)
        confusion[f"{scope}.{language}"] = confusion_matrix(truth, predicted, labels)
    models = fit_heads(texts, targets, settings.intent_max_features, settings)
    thresholds = [settings.intent_threshold] * len(labels)
    heads = _heads(labels, models, calibration, thresholds, settings)
    spec = export(models, heads, kind="intent", version=version, metrics=metrics, settings=settings)
    return TrainedModel(spec, models, metrics, confusion, probabilities)


def _slices(rows: Sequence[TrainingRow]) -> list[tuple[str, str, list[int]]]:
    """(scope, language, row indices): "dev" = the dev messages as written, "augmented" = with
    every paraphrase; language "en", "he" or "all"."""
    found = []
    for scope in ("dev", "augmented"):
        in_scope = [
            i
            for i, row in enumerate(rows)
            if scope == "augmented" or row.augmentation == "original"
        ]
        found.append((scope, "all", in_scope))
        for language in LANGUAGES:
            found.append((scope, language, [i for i in in_scope if rows[i].language == language]))
    return [(scope, language, chosen) for scope, language, chosen in found if chosen]


def triage_figures(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Recall of emergencies and of doctor-or-emergency, false emergencies and routine kept
    (share of routine rows raised to EMERGENCY / left ROUTINE); a figure without rows to
    measure it on is left out."""
    pairs = list(zip(truth, predicted, strict=True))

    def share(of: set[str], hit: set[str]) -> float | None:
        chosen = [p for t, p in pairs if t in of]
        return sum(p in hit for p in chosen) / len(chosen) if chosen else None

    raised = {"EMERGENCY", "DOCTOR_REQUIRED"}
    figures = {
        "emergency_recall": share({"EMERGENCY"}, {"EMERGENCY"}),
        "doctor_required_recall": share(raised, raised),
        "false_emergency_rate": share({"ROUTINE"}, {"EMERGENCY"}),
        "routine_kept": share({"ROUTINE"}, {"ROUTINE"}),
    }
    return {name: value for name, value in figures.items() if value is not None}


def confusion_matrix(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    return {"labels": list(labels), "matrix": matrix}


def _heads(
    labels: Sequence[str],
    models: HeadModels,
    calibration: Sequence[tuple[float, float]],
    thresholds: Sequence[float],
    settings: TrainingSettings,
) -> list[Head]:
    digits = settings.significant_digits
    return [
        Head(
            label=label,
            intercept=_round(float(model.intercept_[0]), digits),
            calibration_a=_round(a, digits),
            calibration_b=_round(b, digits),
            threshold=threshold,
        )
        for label, model, (a, b), threshold in zip(
            labels, models.heads, calibration, thresholds, strict=True
        )
    ]


def export(
    models: HeadModels,
    heads: list[Head],
    *,
    kind: Kind,
    version: str,
    metrics: dict[str, float],
    settings: TrainingSettings,
) -> ClassifierFile:
    """The fitted model as a `ClassifierFile`: per vocabulary feature, its idf and the weight
    of each head (every feature is kept; see the module docstring)."""
    digits = settings.significant_digits
    idf = models.vectorizer.idf_
    weights = np.vstack([head.coef_[0] for head in models.heads])
    vocabulary = sorted(models.vectorizer.vocabulary_.items())
    return ClassifierFile(
        schema_version=1,
        kind=kind,
        version=version,
        heads=heads,
        features={
            name: [_round(float(idf[i]), digits)]
            + [_round(float(w), digits) for w in weights[:, i]]
            for name, i in vocabulary
        },
        metrics={name: round(value, 6) for name, value in sorted(metrics.items())},
    )


def _round(value: float, digits: int) -> float:
    return 0.0 if value == 0 else round(value, digits - 1 - math.floor(math.log10(abs(value))))


def classifier_json(spec: ClassifierFile) -> str:
    """The file as written into the bundle: one feature per line, so a retrain's diff is
    readable; parses back to the same `ClassifierFile`."""
    header = spec.model_dump(exclude={"features"})
    lines = [
        json.dumps(name, ensure_ascii=False) + ":" + json.dumps(row)
        for name, row in spec.features.items()
    ]
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":"))[:-1]
    return head + ',"features":{\n' + ",\n".join(lines) + "\n}}\n"


def data_version(rows: Sequence[TrainingRow], settings: TrainingSettings) -> str:
    """A short hash of the training rows and settings: the same data and settings give the
    same version (and byte-identical files), so retraining without a change changes nothing."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.model_dump_json().encode() + b"\n")
    digest.update(json.dumps(settings.as_params(), sort_keys=True).encode())
    return digest.hexdigest()[:12]
