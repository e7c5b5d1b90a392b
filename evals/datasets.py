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
- `data/eval/booking_requests.jsonl` (dev) and `data/heldout/booking_requests.jsonl` (held-out,
  frozen the same way): booking and reschedule requests with the constraints each carries,
  labelled by docs/BOOKING_REQUESTS.md (`evals.booking` measures them).
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving.scheduling.request import Weekday

MESSAGES = Path("data/eval/messages.jsonl")
HELDOUT = Path("data/heldout/messages.jsonl")
TUNING = Path("data/eval/tuning.jsonl")
BOOKINGS = Path("data/eval/booking_requests.jsonl")
HELDOUT_BOOKINGS = Path("data/heldout/booking_requests.jsonl")
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


ProviderKey = Literal["cohen", "mizrahi", "peretz", "unknown"]
"""A provider of the demo clinic by its key (`serving/demo/demo_clinic.json`), or `unknown`:
a name the clinic does not have."""


BookingField = Literal["treatment", "provider", "dates", "weekdays", "not_weekdays", "time"]
BOOKING_FIELDS: tuple[BookingField, ...] = get_args(BookingField)
"""What a booking request's labels are scored by: `dates` is date_from and date_to together,
`time` is time_from and time_to together."""


class BookingRequest(BaseModel):
    """A booking or reschedule request and the constraints it carries
    (docs/BOOKING_REQUESTS.md); `null` or `[]`: the patient did not constrain it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    language: Literal["he", "en"]
    today: date
    """The day the patient writes: relative dates count from it."""
    intent: Literal["book", "reschedule"]
    text: str = Field(min_length=1)
    treatment: str | None
    provider: ProviderKey | None
    date_from: date | None
    date_to: date | None
    weekdays: tuple[Weekday, ...]
    not_weekdays: tuple[Weekday, ...]
    time_from: time | None
    time_to: time | None
    note: str
    split: Split = "dev"

    @model_validator(mode="after")
    def _ordered(self) -> BookingRequest:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.time_from and self.time_to and self.time_to <= self.time_from:
            raise ValueError("time_to is not after time_from")
        return self


class HeldOutBookingRequest(BookingRequest):
    """A held-out booking request (the file does not carry `split`)."""

    split: Split = "heldout"


class DatasetError(ValueError):
    """The dataset file is missing or has a malformed row."""


Row = TypeVar("Row", bound=BaseModel)
SplitRow = TypeVar("SplitRow", bound=LabelledMessage | BookingRequest)
"""A row that belongs to a split."""


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


def load_bookings(path: Path = BOOKINGS) -> list[BookingRequest]:
    """The dev booking requests (`split` is always `dev`)."""
    return _of_split(load_jsonl(path, BookingRequest, name="booking requests"), "dev", path)


def load_heldout_bookings(path: Path = HELDOUT_BOOKINGS) -> list[HeldOutBookingRequest]:
    """The frozen held-out booking requests (`split` is always `heldout`)."""
    rows = load_jsonl(path, HeldOutBookingRequest, name="held-out booking requests")
    return _of_split(rows, "heldout", path)


def _of_split(rows: list[SplitRow], split: Split, path: Path) -> list[SplitRow]:
    for row in rows:
        if row.split != split:
            raise DatasetError(f"{path}: {row.id}: split {row.split!r} in a {split} set")
    return rows
