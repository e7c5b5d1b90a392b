"""Evaluation data: the one JSONL loader every set goes through (a bad row names its line and
field), and the labelled messages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

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


Row = TypeVar("Row", bound=BaseModel)


def load_jsonl(path: Path, schema: type[Row], *, name: str) -> list[Row]:
    """Every non-blank line of the JSONL file at `path` as a `schema`. A missing file, or a line
    that is not JSON or not a valid row, is a `DatasetError` naming the file (`name` says
    which set it is), the line and the field."""
    if not path.is_file():
        raise DatasetError(f"{path}: {name} not found")
    rows: list[Row] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(schema.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            field = f"{where}: " if where else ""
            raise DatasetError(f"{path}:{number}: {field}{error['msg']}") from None
    return rows


def load_messages(path: Path = MESSAGES, *, split: Split | None = None) -> list[LabelledMessage]:
    rows = load_jsonl(path, LabelledMessage, name="evaluation set")
    return [r for r in rows if split is None or r.split == split]
