"""Learned text classifiers (triage and intent): their features, their file format, inference.

A classifier is trained offline by `flows/train.py` (scikit-learn: TF-IDF over the features
below, one logistic regression per head, Platt calibration on out-of-fold scores) and shipped
inside the bundle as `models/<kind>.json`, so its weights are part of the manifest's hash and
promotion or rollback moves rules and models together. Serving never unpickles anything: it
reads plain numbers and computes the same score scikit-learn would (sublinear TF, smoothed IDF,
L2 norm, a dot product), in pure Python — a few hundred dictionary lookups per message.

`features(text)` is the one definition of what the models see; training passes it to
`TfidfVectorizer(analyzer=features)`, so train and serve cannot drift apart.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.safety.text import hebrew_stems, is_hebrew, tokens

# Long messages are cut here: a pasted document should not cost more than a chat message.
MAX_FEATURE_CHARS = 1200
_CHAR_NGRAMS = (3, 4, 5)


def features(text: str) -> list[str]:
    """Word, word-pair and character n-gram features of a message.

    Hebrew words also count as each of their prefix-stripped readings (ו ה ב ל ש מ כ), so
    "וכשהשן" also counts as "שן"; character n-grams inside padded words carry the rest of the
    morphology (gender and number endings, typos) without any list of forms.
    """
    words = tokens(text[:MAX_FEATURE_CHARS])
    found: list[str] = []
    for word in words:
        found.append("w:" + word)
        if is_hebrew(word):
            found.extend("w:" + stem for stem in hebrew_stems(word) if stem != word)
        padded = f" {word} "
        for size in _CHAR_NGRAMS:
            found.extend("c:" + padded[i : i + size] for i in range(len(padded) - size + 1))
    found.extend(f"b:{a}_{b}" for a, b in itertools.pairwise(words))
    return found


Kind = Literal["triage", "intent"]


class Head(BaseModel):
    """One calibrated linear score: P(label) = sigmoid(a * (w·x + intercept) + b)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1)
    intercept: float
    calibration_a: float
    calibration_b: float
    threshold: float = Field(ge=0.0, le=1.0, description="Probability at which the head acts.")


class ClassifierFile(BaseModel):
    """`models/<kind>.json`: what training writes and the bundle loader validates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    kind: Kind
    version: str = Field(min_length=1, max_length=80, description="Training run that made it.")
    heads: list[Head] = Field(min_length=1)
    uncorroborated_threshold: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description=(
            "Triage: the probability a head needs to raise a message in which no rule or "
            "fail-safe class saw health talk (validated on the second dev set: the heads' own "
            "thresholds there cost routine messages and added no emergency)."
        ),
    )
    min_words: int = Field(
        default=3,
        ge=1,
        le=20,
        description=(
            "Messages with fewer words are not scored: one or two words give a linear model "
            "too little evidence (a bare 'no' normalises to a single heavy feature)."
        ),
    )
    features: dict[str, list[float]] = Field(
        description="feature -> [idf, weight of head 0, weight of head 1, ...]"
    )
    metrics: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> ClassifierFile:
        labels = [head.label for head in self.heads]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate head labels: {labels}")
        width = 1 + len(self.heads)
        for name, row in self.features.items():
            if len(row) != width:
                raise ValueError(f"feature {name!r}: expected {width} numbers, got {len(row)}")
            if not all(math.isfinite(value) for value in row):
                raise ValueError(f"feature {name!r}: a weight is not a finite number")
            if row[0] <= 0:
                raise ValueError(f"feature {name!r}: idf must be positive")
        return self


@dataclass(frozen=True)
class Prediction:
    """Calibrated probability per head label, and the classifier's version."""

    probabilities: Mapping[str, float]
    version: str

    def best(self) -> tuple[str, float]:
        label = max(self.probabilities, key=self.probabilities.__getitem__)
        return label, self.probabilities[label]


class TextClassifier:
    """Inference over a `ClassifierFile`; build once per bundle, then `predict` per message."""

    def __init__(self, spec: ClassifierFile) -> None:
        self.spec = spec
        self.kind: Kind = spec.kind
        self.version = spec.version
        self.heads = spec.heads
        self.thresholds = {head.label: head.threshold for head in spec.heads}
        self._rows = spec.features

    def applies(self, text: str) -> bool:
        """Whether `text` has enough words for this model to have a say."""
        return len(tokens(text[:MAX_FEATURE_CHARS])) >= self.spec.min_words

    def scores(self, text: str) -> list[float]:
        """Raw linear scores per head (what scikit-learn's `decision_function` returns)."""
        counts = Counter(features(text))
        totals = [0.0] * len(self.heads)
        norm = 0.0
        for name, count in counts.items():
            row = self._rows.get(name)
            if row is None:
                continue
            value = (1.0 + math.log(count)) * row[0]
            norm += value * value
            for index in range(len(totals)):
                totals[index] += value * row[index + 1]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return [
            total * scale + head.intercept for total, head in zip(totals, self.heads, strict=True)
        ]

    def predict(self, text: str) -> Prediction:
        probabilities = {
            head.label: _sigmoid(head.calibration_a * score + head.calibration_b)
            for head, score in zip(self.heads, self.scores(text), strict=True)
        }
        return Prediction(probabilities, self.version)


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)
