"""Evaluation text never becomes a rule: no held-out message or booking request, and no 4-word
sequence of one, appears in `prompts/` or `serving/`; no whole dev message or booking request
(of 4 words or more) does either.

Both sides are read the way triage reads text (`serving.safety.text.tokens`: NFKC, lower case,
niqqud and punctuation gone; Hebrew prefixes are NOT stripped, so "והשן" and "השן" differ), and
compared as sets of 4-word sequences taken line by line, so the check costs one set
intersection per file. A failure names the file and the sequence, never the message.

Everyday phrasing that this repository already held before a held-out set was written ("talk
to a dentist") is listed per file in `fixtures/heldout_shared_before_freeze.txt` (messages) and
`fixtures/heldout_bookings_shared_before_freeze.txt` (booking requests); any other shared
sequence fails.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from evals.datasets import HELDOUT, HELDOUT_BOOKINGS, load_heldout, load_heldout_bookings
from serving.safety.text import tokens
from tests.conftest import HELDOUT_FIXTURE

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("prompts", "serving")
EVAL_DIR = ROOT / "data" / "eval"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_BEFORE_FREEZE = FIXTURES / "heldout_shared_before_freeze.txt"
SHARED_BEFORE_BOOKINGS_FREEZE = FIXTURES / "heldout_bookings_shared_before_freeze.txt"
N = 4
Gram = tuple[str, ...]


def grams(words: list[str]) -> set[Gram]:
    return {tuple(words[i : i + N]) for i in range(len(words) - N + 1)}


def text_files(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Every text file under `root`'s scanned directories, as its lines of tokens joined by
    single spaces (images and other binary files are skipped)."""
    for directory in SCANNED:
        for path in sorted((root / directory).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            lines = [" ".join(tokens(line)) for line in text.splitlines()]
            yield path.relative_to(root).as_posix(), lines


def line_grams(lines: list[str]) -> set[Gram]:
    found: set[Gram] = set()
    for line in lines:
        found |= grams(line.split())
    return found


def leaked_sequences(messages: Iterable[str], root: Path) -> list[str]:
    """`file: "four word sequence"` for every 4-word sequence of `messages` found in `root`'s
    prompts/ or serving/."""
    wanted: set[Gram] = set()
    for text in messages:
        wanted |= grams(tokens(text))
    return [
        f'{name}: "{" ".join(gram)}"'
        for name, lines in text_files(root)
        for gram in sorted(wanted & line_grams(lines))
    ]


def copied_messages(messages: Iterable[str], root: Path) -> list[str]:
    """`file: "message"` for every message of 4 words or more that a line of `root`'s
    prompts/ or serving/ contains whole (shorter ones are the vocabulary itself: "hi")."""
    whole = {tuple(words) for words in map(tokens, messages) if len(words) >= N}
    found: list[str] = []
    for name, lines in text_files(root):
        present = line_grams(lines)
        # Only a message whose every 4-word sequence is in the file can be in one of its lines.
        candidates = sorted(" ".join(m) for m in whole if grams(list(m)) <= present)
        padded = [f" {line} " for line in lines]
        found += [f'{name}: "{m}"' for m in candidates if any(f" {m} " in p for p in padded)]
    return found


def patient_texts(path: Path) -> list[str]:
    """What patients write in an evaluation set: messages, probes, scenario turns, questions."""
    texts: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        texts += [row[key] for key in ("text", "question") if key in row]
        texts += [step["say"] for step in row.get("steps", []) if "say" in step]
    return texts


def shared_before_freeze(listed: Path = SHARED_BEFORE_FREEZE) -> set[str]:
    lines = listed.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line.strip() and not line.startswith("#")}


def test_no_held_out_sequence_is_in_prompts_or_serving() -> None:
    messages = [m.text for m in load_heldout(ROOT / HELDOUT)]
    assert len(messages) >= 400
    assert [s for s in leaked_sequences(messages, ROOT) if s not in shared_before_freeze()] == []


def test_no_held_out_booking_sequence_is_in_prompts_or_serving() -> None:
    requests = [r.text for r in load_heldout_bookings(ROOT / HELDOUT_BOOKINGS)]
    assert len(requests) >= 170
    allowed = shared_before_freeze(SHARED_BEFORE_BOOKINGS_FREEZE)
    assert [s for s in leaked_sequences(requests, ROOT) if s not in allowed] == []


def test_no_dev_message_is_copied_whole_into_prompts_or_serving() -> None:
    sets = sorted(EVAL_DIR.glob("*.jsonl"))
    assert {p.name for p in sets} >= {
        "messages.jsonl",
        "boundaries.jsonl",
        "scenarios.jsonl",
        "booking_requests.jsonl",
    }
    messages = [text for path in sets for text in patient_texts(path)]
    assert len(messages) > 400
    assert copied_messages(messages, ROOT) == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of prompts/ and serving/ to plant leaks in."""
    for directory in SCANNED:
        shutil.copytree(
            ROOT / directory, tmp_path / directory, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_a_planted_held_out_phrase_is_found_and_named(planted: Path) -> None:
    """On the tests' own held-out-shaped fixture, so the test shows nothing of the real set."""
    fixture = load_heldout(HELDOUT_FIXTURE)
    english = next(m.text for m in fixture if m.language == "en")
    hebrew = next(m.text for m in fixture if m.language == "he")
    assert leaked_sequences([english, hebrew], planted) == []
    rules = planted / "prompts" / "safety" / "rules.yaml"
    original = rules.read_text(encoding="utf-8")

    # Four of its words, re-punctuated and upper-cased, in a comment of the rules file.
    words = tokens(english)[2 : 2 + N]
    rules.write_text(original + f'\n# "{", ".join(words).upper()}!"\n', encoding="utf-8")
    assert leaked_sequences([english, hebrew], planted) == [
        f'prompts/safety/rules.yaml: "{" ".join(words)}"'
    ]

    # Hebrew: the same four words are found; with a prefix attached they are other words.
    words = tokens(hebrew)[1 : 1 + N]
    rules.write_text(original + f"\n      he: [{' '.join(words)}]\n", encoding="utf-8")
    assert leaked_sequences([hebrew], planted) == [
        f'prompts/safety/rules.yaml: "{" ".join(words)}"'
    ]
    rules.write_text(original + f"\n      he: [ו{' '.join(words)}]\n", encoding="utf-8")
    assert leaked_sequences([hebrew], planted) == []


def test_a_planted_dev_message_is_found_in_python_code(planted: Path) -> None:
    message = patient_texts(EVAL_DIR / "boundaries.jsonl")[0]
    assert len(tokens(message)) >= N
    assert copied_messages([message], planted) == []
    code = planted / "serving" / "agents" / "offline" / "nlu.py"
    code.write_text(code.read_text(encoding="utf-8") + f"\nEXAMPLE = {message!r}\n")
    assert copied_messages([message], planted) == [
        f'serving/agents/offline/nlu.py: "{" ".join(tokens(message))}"'
    ]
