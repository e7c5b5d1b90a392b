"""Evaluation data: the one JSONL loader every set goes through (a bad row names its line and
field), the labelled messages (`dev`) and the frozen held-out set (`heldout`).

- `data/eval/messages.jsonl` is the dev split: rules, lexicon and models are built and tuned on
  it, and tests assert it.
- `data/eval/tuning.jsonl` is dev too (written later, independently, from published guidance,
  with a reason per label): the classifiers train on it and rule changes are measured on it,
  but no test asserts its messages one by one (docs/DATA.md).
- `data/heldout/messages.jsonl` is the held-out split, written independently and frozen (its
  md5 is in dvc.lock): measured and reported, never tuned on, never asserted message by message
  (data/heldout/README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MESSAGES = Path("data/eval/messages.jsonl")
HELDOUT = Path("data/heldout/messages.jsonl")
TUNING = Path("data/eval/tuning.jsonl")
Split = Literal["dev", "heldout"]
SPLITS: tuple[Split, ...] = ("dev", "heldout")
LANGUAGES = ("en", "he")


class LabelledMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    text: str
    language: Literal["he", "en"]
    urgency: Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]
    intent: str
    split: Split = "dev"


class AnnotatedMessage(LabelledMessage):
    """A row with why it has its labels (`reason`, one line) and the class of situation it was
    written for (`class` in the file: a red-flag class, a form such as a negation)."""

    reason: str = Field(min_length=1)
    category: str = Field(alias="class", min_length=1)


class HeldOutMessage(AnnotatedMessage):
    """A held-out row (the file does not carry `split`)."""

    split: Split = "heldout"


class DatasetError(ValueError):
    """The dataset file is missing or has a malformed row."""


Row = TypeVar("Row", bound=BaseModel)
Message = TypeVar("Message", bound=LabelledMessage)


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


def load_messages(path: Path = MESSAGES) -> list[LabelledMessage]:
    """The dev split. A row marked `heldout` is refused: held-out messages live only in
    `data/heldout/`, where they are frozen."""
    rows = load_jsonl(path, LabelledMessage, name="evaluation set")
    for row in rows:
        if row.split != "dev":
            raise DatasetError(
                f"{path}: {row.id}: split {row.split!r}; the held-out split is {HELDOUT}"
            )
    return rows


def load_heldout(path: Path = HELDOUT) -> list[HeldOutMessage]:
    """The frozen held-out split (`split` is always `heldout`; the file does not carry it)."""
    return _of_split(load_jsonl(path, HeldOutMessage, name="held-out set"), "heldout", path)


def load_tuning(path: Path = TUNING) -> list[AnnotatedMessage]:
    """The second dev set (`split` is always `dev`)."""
    return _of_split(load_jsonl(path, AnnotatedMessage, name="tuning set"), "dev", path)


def _of_split(rows: list[Message], split: Split, path: Path) -> list[Message]:
    for row in rows:
        if row.split != split:
            raise DatasetError(f"{path}: {row.id}: split {row.split!r} in a {split} set")
    return rows
