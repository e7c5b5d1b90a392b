"""A bundle classifier as an MLflow model, so the registry holds what serving runs.

`ClassifierModel` wraps `serving.safety.classifier.TextClassifier` around the exported JSON
file (the model's one artifact, `classifier`): `mlflow.pyfunc.load_model(...).predict([text,
...])` returns each text's calibrated probability per head, the same numbers serving computes.
No pickled scikit-learn object is involved. Loading it needs this project installed (the
class is imported by name), which `pip_requirements` cannot express; the registry copy is for
lineage and inspection, serving reads the JSON from the bundle.

This module imports MLflow at the top: import it only after
`flows.mlflow_setup.configure_mlflow_environment()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from serving.safety.classifier import ClassifierFile, TextClassifier

ARTIFACT = "classifier"


class ClassifierModel(PythonModel):
    """Calibrated probabilities per head for each text."""

    classifier: TextClassifier | None = None

    def load_context(self, context: PythonModelContext) -> None:
        text = Path(context.artifacts[ARTIFACT]).read_text(encoding="utf-8")
        self.classifier = TextClassifier(ClassifierFile.model_validate_json(text))

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: list[str],
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, float]]:
        if self.classifier is None:
            raise RuntimeError("the classifier file was not loaded")
        return [dict(self.classifier.predict(text).probabilities) for text in model_input]


def save_classifier_model(classifier_json: Path, destination: Path) -> None:
    """An MLflow model at `destination` (a new directory) serving the file `classifier_json`."""
    mlflow.pyfunc.save_model(
        str(destination),
        python_model=str(Path(__file__)),  # models from code: nothing is pickled
        artifacts={ARTIFACT: str(classifier_json)},
        pip_requirements=[f"mlflow=={mlflow.__version__}", "pydantic>=2"],
    )


# What MLflow loads when it runs this file as the model's code (`save_model` above).
mlflow.models.set_model(ClassifierModel())
