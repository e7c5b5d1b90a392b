"""The bundle's triage classifier on its own: how many labelled emergencies its EMERGENCY head
catches. Serving lets the classifier only raise urgency, so a weak head cannot lower a message
the rules caught; but a head that misses labelled emergencies is not trusted to raise either,
and promotion refuses it (`flows.gates.classifier_failures`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evals.datasets import LabelledMessage
from serving.safety.classifier import TextClassifier

EMERGENCY_HEAD = "EMERGENCY"


@dataclass(frozen=True)
class EmergencyHeadCheck:
    """The EMERGENCY head against the labelled emergencies it was given."""

    version: str
    threshold: float
    emergencies: int
    missed: tuple[str, ...]
    """Ids of the emergencies whose probability stayed under the head's threshold."""

    @property
    def recall(self) -> float | None:
        if not self.emergencies:
            return None
        return round((self.emergencies - len(self.missed)) / self.emergencies, 4)

    def metrics(self, split: str) -> dict[str, float]:
        figures = {
            f"triage_model.{split}.emergencies": float(self.emergencies),
            f"triage_model.{split}.emergencies_missed": float(len(self.missed)),
        }
        if self.recall is not None:
            figures[f"triage_model.{split}.emergency_head_recall"] = self.recall
        return figures


def check_emergency_head(
    classifier: TextClassifier, messages: Sequence[LabelledMessage]
) -> EmergencyHeadCheck:
    """The head's verdict on every labelled EMERGENCY in `messages`: caught when its calibrated
    probability reaches the head's own threshold."""
    threshold = classifier.thresholds[EMERGENCY_HEAD]
    emergencies = [m for m in messages if m.urgency == "EMERGENCY"]
    missed = tuple(
        m.id
        for m in emergencies
        if classifier.predict(m.text).probabilities[EMERGENCY_HEAD] < threshold
    )
    return EmergencyHeadCheck(classifier.version, threshold, len(emergencies), missed)
