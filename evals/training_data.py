"""Training data for the learned classifiers: the dev messages and seeded paraphrases of them.

    python -m evals.training_data --source data/eval --output data/training

Only `data/eval/messages.jsonl` is read, every row of which is dev (`load_messages` refuses a
held-out row there); the held-out set lives apart in `data/heldout/` and never reaches
training, so it stays a measure. Each dev message is written as it is
and as paraphrases that keep its labels, in the forms patients write: typos (a dropped,
swapped or doubled letter; Hebrew letters that sound alike, ט/ת כ/ח א/ע), no casing or
punctuation, voice-to-text run-ons, Hebrew prefixes attached or split off, fillers and slang,
admin small talk around the message, and, for administrative ROUTINE messages, a denial of
any symptom ("no pain, ...", still ROUTINE by the labelling rules). The added words are in
`evals/training_phrases.yaml` and say nothing about health.

Paraphrasing is seeded per message and transformation, so the same seed and the same dev set
give byte-identical files. Output (a DVC stage, dvc.yaml `training_data`):

- `triage.jsonl`: every row (text, language, urgency, intent, origin, augmentation);
- `intent.jsonl`: the rows whose paraphrase keeps the intent (small talk around a greeting
  does not, so those rows have `intent: null` in `triage.jsonl` and are left out here);
- `manifest.json`: seed, SHA-256 of each file, rows by augmentation, language and label.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from evals.datasets import (
    MESSAGES,
    TUNING,
    DatasetError,
    LabelledMessage,
    load_jsonl,
    load_messages,
    load_tuning,
)
from serving.safety.text import HEBREW_PREFIX_LETTERS, is_hebrew

DEFAULT_SEED = 11
MIXED_VARIANTS = 3
"""Paraphrases per message that chain two or three transformations."""
PHRASES = Path(__file__).with_name("training_phrases.yaml")
TRIAGE_FILE, INTENT_FILE, MANIFEST_FILE = "triage.jsonl", "intent.jsonl", "manifest.json"
ADMIN_INTENTS = frozenset(
    {
        "book_appointment",
        "reschedule_appointment",
        "cancel_appointment",
        "my_appointments",
        "clinic_info",
        "invoice_inquiry",
    }
)
"""Intents a denial of symptoms can be added to without changing what the patient wants."""
SOCIAL_INTENTS = frozenset({"greeting", "thanks_goodbye"})
"""Intents that small talk around the message would change."""
HEBREW_SOUND_ALIKE = {"ט": "ת", "ת": "ט", "כ": "ח", "ח": "כ", "א": "ע", "ע": "א"}
_PUNCTUATION = re.compile(r"[.,!?;:\"'״׳()\-…]+")
_CLAUSE = re.compile(r"\s*[.,!?;:\n]+\s*")

Language = Literal["he", "en"]


class TrainingRow(BaseModel):
    """One training example; `intent` is None where the paraphrase does not keep it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    language: Language
    urgency: Literal["EMERGENCY", "DOCTOR_REQUIRED", "ROUTINE"]
    intent: str | None
    origin: str
    """Id of the dev message it was made from."""
    augmentation: str
    """"original", or the transformations applied, joined by "+"."""


class Phrases(BaseModel):
    """`training_phrases.yaml`: by kind, then language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fillers: dict[Language, list[str]]
    connectors: dict[Language, list[str]]
    openers: dict[Language, list[str]]
    closers: dict[Language, list[str]]
    denials: dict[Language, list[str]]
    negations: dict[Language, list[str]]


def load_phrases(path: Path = PHRASES) -> Phrases:
    return Phrases.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


class _Paraphraser:
    """The transformations, each `(text, rng) -> text`, for one language."""

    def __init__(self, phrases: Phrases, language: Language) -> None:
        self.language = language
        self.fillers = phrases.fillers[language]
        self.connectors = phrases.connectors[language]
        self.openers = phrases.openers[language]
        self.closers = phrases.closers[language]
        self.denials = phrases.denials[language]
        self.negations = frozenset(phrases.negations[language])

    def typo(self, text: str, rng: random.Random) -> str:
        words = text.split(" ")
        candidates = [i for i, word in enumerate(words) if sum(c.isalpha() for c in word) >= 4]
        for index in rng.sample(candidates, min(len(candidates), rng.choice((1, 2)))):
            words[index] = self._misspell(words[index], rng)
        return " ".join(words)

    def _misspell(self, word: str, rng: random.Random) -> str:
        sound_alike = [i for i, c in enumerate(word) if c in HEBREW_SOUND_ALIKE]
        kinds = ["drop", "swap", "double"] + (["sound_alike"] * 2 if sound_alike else [])
        kind = rng.choice(kinds)
        letters = [i for i, c in enumerate(word) if c.isalpha()]
        if kind == "sound_alike":
            i = rng.choice(sound_alike)
            return word[:i] + HEBREW_SOUND_ALIKE[word[i]] + word[i + 1 :]
        i = rng.choice(letters[1:])  # the first letter is kept: people rarely miss it
        if kind == "drop":
            return word[:i] + word[i + 1 :]
        if kind == "double":
            return word[: i + 1] + word[i:]
        if i + 1 < len(word) and word[i + 1].isalpha():
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]

    def plain(self, text: str, rng: random.Random) -> str:
        text = " ".join(_PUNCTUATION.sub(" ", text).split())
        if self.language == "en":
            text = rng.choice((str.lower, str.upper, str.capitalize))(text)
        return text

    def run_on(self, text: str, rng: random.Random) -> str:
        clauses = [c for c in _CLAUSE.split(text) if c.strip()]
        if len(clauses) < 2 or rng.random() < 0.4:
            clauses.insert(0, _PUNCTUATION.sub("", rng.choice(self.openers)).strip())
        joined = clauses[0]
        for clause in clauses[1:]:
            connector = rng.choice(self.connectors)
            # A Hebrew "ו" is a prefix: it attaches to the next word.
            joined += f" {connector}{clause}" if connector == "ו" else f" {connector} {clause}"
        return " ".join(_PUNCTUATION.sub(" ", joined).lower().split())

    def prefix(self, text: str, rng: random.Random) -> str:
        words = text.split(" ")
        hebrew = [i for i, word in enumerate(words) if is_hebrew(word) and len(word) >= 3]
        for index in rng.sample(hebrew, min(len(hebrew), rng.choice((1, 2)))):
            word = words[index]
            if word[0] in HEBREW_PREFIX_LETTERS and len(word) >= 4 and rng.random() < 0.6:
                words[index] = f"{word[0]} {word[1:]}"  # split off, as dictation often does
            else:
                words[index] = rng.choice("וש") + word
        return " ".join(words)

    def filler(self, text: str, rng: random.Random) -> str:
        words = text.split(" ")
        for _ in range(rng.choice((1, 2))):
            gaps = [
                i
                for i in range(1, len(words))
                if _PUNCTUATION.sub("", words[i - 1]).lower() not in self.negations
            ]
            position = rng.choice(gaps) if gaps else len(words)
            words.insert(position, rng.choice(self.fillers))
        return " ".join(words)

    def small_talk(self, text: str, rng: random.Random) -> str:
        where = rng.choice(("before", "after", "both"))
        if where in ("before", "both"):
            text = f"{rng.choice(self.openers)} {text}"
        if where in ("after", "both"):
            text = f"{text} {rng.choice(self.closers)}"
        return text

    def denial(self, text: str, rng: random.Random) -> str:
        return f"{rng.choice(self.denials)} {text}"


Transform = Callable[[str, random.Random], str]


def _transforms(
    paraphraser: _Paraphraser, message: LabelledMessage
) -> dict[str, tuple[Transform, bool]]:
    """The transformations that keep `message`'s urgency, by name, with whether each also
    keeps its intent."""
    social = message.intent in SOCIAL_INTENTS
    found: dict[str, tuple[Transform, bool]] = {
        "typo": (paraphraser.typo, True),
        "plain": (paraphraser.plain, True),
        "run_on": (paraphraser.run_on, not social),
        "filler": (paraphraser.filler, True),
        "small_talk": (paraphraser.small_talk, not social),
    }
    if message.language == "he":
        found["prefix"] = (paraphraser.prefix, True)
    if message.urgency == "ROUTINE" and message.intent in ADMIN_INTENTS:
        found["denial"] = (paraphraser.denial, True)
    return found


def paraphrase(message: LabelledMessage, phrases: Phrases, seed: int) -> list[TrainingRow]:
    """`message` as written, then each transformation alone, then `MIXED_VARIANTS` chains of
    two or three; a paraphrase identical to an earlier one is dropped."""
    paraphraser = _Paraphraser(phrases, message.language)
    transforms = _transforms(paraphraser, message)
    plans = [[name] for name in transforms]
    for number in range(MIXED_VARIANTS):
        rng = _rng(seed, message.id, f"mix{number}")
        chain = rng.sample(sorted(transforms), min(len(transforms), rng.choice((2, 3))))
        # Words are added before letters are changed, so a typo can land in a filler too.
        plans.append(sorted(chain, key=list(transforms).index, reverse=True))
    rows = [_row(message, message.text, "original", keeps_intent=True)]
    seen = {message.text}
    for plan in plans:
        text, keeps_intent = message.text, True
        for name in plan:
            transform, keeps = transforms[name]
            text = transform(text, _rng(seed, message.id, "+".join(plan), name))
            keeps_intent = keeps_intent and keeps
        if text.strip() and text not in seen:
            seen.add(text)
            rows.append(_row(message, text, "+".join(plan), keeps_intent=keeps_intent))
    return rows


def _rng(seed: int, *parts: str) -> random.Random:
    """A generator seeded by the run's seed and what it is for: the same paraphrase of the same
    message is drawn whatever else changes (a new message, another transformation)."""
    return random.Random(":".join([str(seed), *parts]))  # noqa: S311 (not for security)


def _row(
    message: LabelledMessage, text: str, augmentation: str, *, keeps_intent: bool
) -> TrainingRow:
    return TrainingRow(
        text=text,
        language=message.language,
        urgency=message.urgency,
        intent=message.intent if keeps_intent else None,
        origin=message.id,
        augmentation=augmentation,
    )


def build_training_rows(
    source: Path, *, seed: int = DEFAULT_SEED, phrases: Phrases | None = None
) -> list[TrainingRow]:
    """Every dev message of `source/messages.jsonl` and, when present, `source/tuning.jsonl`,
    and their paraphrases, in file order."""
    chosen = phrases or load_phrases()
    dev: list[LabelledMessage] = list(load_messages(source / MESSAGES.name))
    if not dev:
        raise DatasetError(f"{source / MESSAGES.name}: no dev messages to train on")
    if (source / TUNING.name).is_file():
        dev += load_tuning(source / TUNING.name)
    return [row for message in dev for row in paraphrase(message, chosen, seed)]


def limit_rows(rows: Sequence[TrainingRow], max_rows: int) -> list[TrainingRow]:
    """At most `max_rows` rows, by keeping fewer paraphrases of each dev message (the first
    ones, the message as written first); every message keeps at least that one row, so a
    small run still sees every label."""
    per_origin = max(1, max_rows // len({row.origin for row in rows}))
    kept: Counter[str] = Counter()
    chosen = []
    for row in rows:
        if kept[row.origin] < per_origin:
            kept[row.origin] += 1
            chosen.append(row)
    return chosen


def jsonl(rows: Sequence[TrainingRow]) -> str:
    return "".join(row.model_dump_json() + "\n" for row in rows)


def write_training_data(
    rows: Sequence[TrainingRow], output: Path, *, seed: int
) -> dict[str, object]:
    """Write `triage.jsonl`, `intent.jsonl` and `manifest.json` into `output`; the manifest."""
    output.mkdir(parents=True, exist_ok=True)
    files = {
        TRIAGE_FILE: jsonl(rows),
        INTENT_FILE: jsonl([row for row in rows if row.intent is not None]),
    }
    for name, text in files.items():
        (output / name).write_text(text, encoding="utf-8")
    manifest: dict[str, object] = {
        "seed": seed,
        "origins": len({row.origin for row in rows}),
        "files": {
            name: {
                "rows": text.count("\n"),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
            }
            for name, text in files.items()
        },
        "augmentations": dict(sorted(Counter(_kinds(rows)).items())),
        "urgency": _counted(rows, lambda row: row.urgency),
        "intent": _counted([r for r in rows if r.intent], lambda row: str(row.intent)),
    }
    (output / MANIFEST_FILE).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def _kinds(rows: Sequence[TrainingRow]) -> list[str]:
    return [kind for row in rows for kind in row.augmentation.split("+")]


def _counted(rows: Sequence[TrainingRow], label: Callable[[TrainingRow], str]) -> dict[str, int]:
    return dict(sorted(Counter(f"{row.language}.{label(row)}" for row in rows).items()))


def read_training_rows(path: Path) -> list[TrainingRow]:
    """The rows of a `triage.jsonl` or `intent.jsonl` written by `write_training_data`."""
    return load_jsonl(path, TrainingRow, name="training data")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.training_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", type=Path, default=MESSAGES.parent)
    parser.add_argument("--output", type=Path, default=Path("data/training"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    arguments = parser.parse_args(argv)
    try:
        rows = build_training_rows(arguments.source, seed=arguments.seed)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = write_training_data(rows, arguments.output, seed=arguments.seed)
    print(f"{manifest['origins']} dev messages → {manifest['files']} in {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
