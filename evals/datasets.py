"""Labelled evaluation data, loaded and validated (a bad row names its line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

MESSAGES = Path("data/eval/messages.jsonl")
Split = Literal["dev", "heldout"]


class LabelledMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: str
    language: Literal["he", "en"]
    urgency: Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]
    intent: str
    split: Split


class DatasetError(ValueError):
    """The dataset file is missing or has a malformed row."""


def load_messages(path: Path = MESSAGES, *, split: Split | None = None) -> list[LabelledMessage]:
    if not path.is_file():
        raise DatasetError(f"{path}: evaluation set not found")
    rows: list[LabelledMessage] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(LabelledMessage.model_validate_json(line))
        except ValidationError as exc:
            raise DatasetError(f"{path}:{number}: {exc.errors()[0]['msg']}") from None
        except json.JSONDecodeError:
            raise DatasetError(f"{path}:{number}: not JSON") from None
    return [r for r in rows if split is None or r.split == split]
