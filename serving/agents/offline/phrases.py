"""The lexicon's phrases in a message: `serving.safety.text.PhraseMatcher`, read the NLU's way.

What the NLU needs on top of the shared matcher:

- Words: `serving.bundle.lexicon.message_words`, where numbers keep their separators and
  ordinal suffixes ("3/12", "10:30", "2026/0042", "2nd"), so a date or an invoice number stays
  one word; everything else is `tokens`.
- One reading per word: of overlapping phrases the one with more words wins, then the one
  with fewer skipped words, then the one closer to what is written (fewer Hebrew prefix
  letters stripped, no typo: "להיום" is "היום", today, rather than "יום", day). So "how much
  do I owe" counts once, as itself, rather than also as "how much" (a price question).
- Stricter typos in Hebrew, which is written without vowels, so that one letter changes the
  word more often than in English: a different prefix is not a typo ("בבוקר", in the morning,
  is not "הבוקר", this morning), and a word of the lexicon needs 6+ letters to be read through a
  typo ("שתלים", implants, is not "שקלים", shekels).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from serving.bundle.lexicon import message_words
from serving.safety.text import PhraseMatcher, hebrew_stems, is_hebrew

T = TypeVar("T")

_HEBREW_TYPO_MIN_LENGTH = 6
_TYPO_COST = 5


@dataclass(frozen=True)
class PhraseMatch(Generic[T]):
    """A phrase found in words[start:end] and what it stands for."""

    start: int
    end: int
    payloads: tuple[T, ...]
    literal: bool
    """Every word of the phrase is in the message as written (no prefix stripped, no typo)."""


@dataclass(frozen=True)
class _Phrase(Generic[T]):
    words: tuple[str, ...]
    payloads: list[T]


class PhraseIndex(Generic[T]):
    """Phrases with payloads, compiled once; `find` gives one reading per word of a message."""

    def __init__(
        self,
        entries: Iterable[tuple[str, T]],
        *,
        not_typos: Iterable[str] = (),
        max_gap: int = 0,
        typos: bool = True,
    ) -> None:
        self._matcher: PhraseMatcher[int] = PhraseMatcher(fuzzy=typos, fuzzy_exempt=not_typos)
        self._phrases: list[_Phrase[T]] = []
        ids: dict[tuple[str, ...], int] = {}
        for text, payload in entries:
            words = tuple(message_words(text))
            if not words:
                raise ValueError(f"phrase {text!r} has no letters or digits")
            if words not in ids:
                ids[words] = len(self._phrases)
                self._phrases.append(_Phrase(words, []))
                self._matcher.add(words, ids[words], max_gap=max_gap)
            self._phrases[ids[words]].payloads.append(payload)

    def find(self, words: Sequence[str]) -> list[PhraseMatch[T]]:
        """The phrases in `words`, without overlaps, in message order."""
        candidates = []
        for hit in self._matcher.find(words):
            phrase = self._phrases[hit.key]
            span = words[hit.start : hit.end]
            if any(_hebrew_misreading(word, span) for word in phrase.words):
                continue
            skipped = hit.end - hit.start - len(phrase.words)
            cost = sum(_reading_cost(word, span) for word in phrase.words)
            rank = (-len(phrase.words), skipped, cost, hit.start)
            match = PhraseMatch(hit.start, hit.end, tuple(phrase.payloads), literal=cost == 0)
            candidates.append((rank, match))
        chosen: list[PhraseMatch[T]] = []
        taken: set[int] = set()
        for _, match in sorted(candidates, key=lambda candidate: candidate[0]):
            positions = range(match.start, match.end)
            if taken.isdisjoint(positions):
                chosen.append(match)
                taken.update(positions)
        return sorted(chosen, key=lambda match: match.start)


def _reading_cost(word: str, span: Sequence[str]) -> int:
    """0 if `word` is written in `span`, else the prefix letters stripped to find it, else a typo
    (more than any prefix)."""
    costs = [len(token) - len(word) for token in span if word in hebrew_stems(token)]
    return min(costs, default=_TYPO_COST)


def _hebrew_misreading(word: str, span: Sequence[str]) -> bool:
    """`word` is a Hebrew word read in `span` only through a typo we do not accept."""
    if not is_hebrew(word) or any(word in hebrew_stems(token) for token in span):
        return False
    if len(word) < _HEBREW_TYPO_MIN_LENGTH:
        return True
    stems = set(hebrew_stems(word))
    return any(not stems.isdisjoint(hebrew_stems(token)) for token in span)
