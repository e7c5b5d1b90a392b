"""Which provider a message names: `ProviderReader`.

The names come with the turn (the clinic's providers, English and Hebrew), so a clinic's own
staff are recognised without a lexicon change: each word of a name (first name, surname),
with Hebrew prefixes and typos as the phrase index reads them, stands for its provider; a
role word ("hygienist", "שיננית") for the role; a title before a name the clinic does not
have ("Dr. Levi", 'ד"ר לוי') is kept as written, so the tools can say there is no such
provider instead of offering someone else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from serving.agents.offline.phrases import PhraseIndex
from serving.practice.providers import (
    HYGIENIST_WORDS,
    NAME_TITLES,
    TITLES,
    mention_words,
    spelling_skeleton,
)
from serving.safety.text import is_hebrew

__all__ = ["ProviderReader"]

HYGIENIST = "hygienist"
_MAX_PREFIX = 2
"""Hebrew prefix letters tried off a word: "ולמזרחי"."""


class ProviderReader:
    def __init__(self, *, not_typos: Iterable[str] = ()) -> None:
        self._not_typos = tuple(not_typos)
        self._titles: PhraseIndex[bool] = PhraseIndex([(t, True) for t in NAME_TITLES], typos=False)

    def find(
        self, words: Sequence[str], providers: Sequence[str]
    ) -> tuple[str | None, frozenset[int]]:
        """The provider `words` name: one of `providers` (its name as given), the role, or a
        title and the name after it (None when no one is named); and the positions of the
        name with the title before it."""
        titles = {t.end: t.start for t in self._titles.find(words)}
        found: tuple[str, int, int] | None = None
        for match in _index(tuple(providers), self._not_typos).find(words):
            named = set(match.payloads)
            if len(named) == 1:
                found = (named.pop(), match.start, match.end)
                break
        if found is None:
            found = self._by_spelling(words, providers)
        if found is None:
            for end, start in titles.items():
                if end < len(words) and words[end].isalpha():
                    found = (" ".join(words[start : end + 1]).title(), start, end + 1)
                    break
        if found is None:
            return None, frozenset()
        name, start, end = found
        return name, frozenset(range(titles.get(start, start), end))

    def _by_spelling(
        self, words: Sequence[str], providers: Sequence[str]
    ) -> tuple[str, int, int] | None:
        """Hebrew spelled with or without vowel letters: "ריבקה" is "רבקה"."""
        skeletons = _skeletons(tuple(providers))
        for position, word in enumerate(words):
            for start in range(min(_MAX_PREFIX, len(word) - 3) + 1):
                named = skeletons.get(spelling_skeleton(word[start:]), set())
                if len(named) == 1 and is_hebrew(word):
                    return next(iter(named)), position, position + 1
        return None


@lru_cache(maxsize=8)
def _skeletons(providers: tuple[str, ...]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name in providers:
        for word in mention_words(name):
            if is_hebrew(word) and len(word) >= 3 and word not in TITLES:
                found.setdefault(spelling_skeleton(word), set()).add(name)
    return found


@lru_cache(maxsize=8)
def _index(providers: tuple[str, ...], not_typos: tuple[str, ...]) -> PhraseIndex[str]:
    """Each name word of each provider, and the role words; built once per clinic."""
    entries = [(word, HYGIENIST) for word in HYGIENIST_WORDS]
    for name in providers:
        entries += [
            (word, name)
            for word in mention_words(name)
            if word not in TITLES and word not in HYGIENIST_WORDS and len(word) > 1
        ]
    return PhraseIndex(entries, not_typos=not_typos)
