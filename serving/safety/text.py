"""Text normalisation, tokenisation and phrase matching shared by triage, the guards and the NLU.

Patients write short, unpunctuated, misspelled and mixed Hebrew/English messages. Everything that
reads them goes through the same three steps so that a rule written once matches all of them:

1. `normalize`: NFKC, lower case, niqqud and invisible characters removed (Hebrew final letters
   are kept: "ם" and "מ" are different letters to a reader, and so to the rules).
2. `tokens`: words of one script each ("הroot" is two tokens), apostrophes and gershayim inside
   words dropped ("can't" -> "cant", "מ\"ג" -> "מג").
3. `PhraseMatcher`: finds phrases in tokens, reading each Hebrew token with its attached prefixes
   (ו ה ב ל ש מ כ) stripped and tolerating one typo in words of five letters or more.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

HEBREW_PREFIX_LETTERS = frozenset("והבלשמכ")
# Longest chain of prefix letters stripped ("וכשה" in "וכשהשן"); the rest keeps 2+ letters.
_MAX_PREFIXES = 4
_MIN_STEM = 2
FUZZY_MIN_LENGTH = 5
# A "word*" pattern needs this many letters before the star, so "ab*" cannot match half the text.
PREFIX_PATTERN_MIN = 3

_QUOTES_INSIDE_WORD = re.compile(r"(?<=\w)['’‘`\"”“](?=\w)")
_TOKEN = re.compile(r"[\u05d0-\u05ea]+|[^\W\d_\u05d0-\u05ea]+|\d+")
# Clause and sentence boundaries. A dot between digits is a decimal point, not a boundary.
_CLAUSE_BREAK = re.compile(r"[,;:!?\n]|\.(?!\d)|(?<!\d)\.")
_SENTENCE_BREAK = re.compile(r"[;!?\n]|\.(?!\d)|(?<!\d)\.")


def normalize(text: str) -> str:
    """NFKC, lower case, niqqud/cantillation and control characters removed, spaces collapsed.

    Newlines are kept (they end a sentence); Hebrew final letters are kept; gershayim and geresh
    become ASCII quotes so that `מ״ג` and `מ"ג` read the same.
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u05f4", '"').replace("\u05f3", "'").replace("\u05be", "-")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Mn" or category == "Cf":
            continue  # niqqud, cantillation, bidi marks, zero-width joiners
        if category == "Cc" and char not in "\n\t":
            continue
        kept.append(char)
    text = "".join(kept).lower()
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r" ?\n[\s]*", "\n", text)
    return text.strip()


def _word_tokens(normalized: str) -> list[str]:
    return _TOKEN.findall(_QUOTES_INSIDE_WORD.sub("", normalized))


def tokens(text: str) -> list[str]:
    """The words of `text`, normalised; Hebrew and Latin runs are separate tokens, digits too."""
    return _word_tokens(normalize(text))


def clauses(text: str) -> list[list[str]]:
    """Tokens grouped by clause: split at commas, colons and sentence punctuation.

    Triage keeps a negation ("no fever, ...") from reaching across a comma.
    """
    return _split(normalize(text), _CLAUSE_BREAK)


def sentences(text: str) -> list[list[str]]:
    """Tokens grouped by sentence (. ! ? ; newline): the scope of an output-guard rule."""
    return _split(normalize(text), _SENTENCE_BREAK)


def sentence_texts(text: str) -> list[str]:
    """The normalised sentences of `text`, for regular expressions that need the raw characters."""
    return [part for part in _SENTENCE_BREAK.split(normalize(text)) if part.strip()]


def _split(normalized: str, boundary: re.Pattern[str]) -> list[list[str]]:
    parts = (_word_tokens(part) for part in boundary.split(normalized))
    return [part for part in parts if part]


def is_hebrew(token: str) -> bool:
    return bool(token) and "\u05d0" <= token[0] <= "\u05ea"


def hebrew_stems(token: str) -> list[str]:
    """`token`, then `token` with 1, 2, ... attached prefix letters (ו ה ב ל ש מ כ) stripped.

    "וכשהשן" -> ["וכשהשן", "כשהשן", "שהשן", "השן", "שן"]. A Latin token is returned alone. The
    candidates over-generate on purpose ("שלום" -> "לום"): they are only looked up in a
    vocabulary, never shown.
    """
    stems = [token]
    if not is_hebrew(token):
        return stems
    rest = token
    for _ in range(_MAX_PREFIXES):
        if len(rest) - 1 < _MIN_STEM or rest[0] not in HEBREW_PREFIX_LETTERS:
            break
        rest = rest[1:]
        stems.append(rest)
    return stems


def fuzzy_equal(a: str, b: str) -> bool:
    """Equal, or (both 5+ letters) one insertion, deletion, substitution or adjacent swap apart.

    Short words must match exactly: one edit turns "pain" into "paid" or "חום" into "חוס".
    """
    if a == b:
        return True
    if len(a) < FUZZY_MIN_LENGTH or len(b) < FUZZY_MIN_LENGTH:
        return False
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    # First position where they differ; everything before is shared.
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1 :] == b[i + 1 :]:
            return True  # substitution
        return (
            i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
        )  # adjacent transposition
    return a[i:] == b[i + 1 :]  # b has one extra letter


def _deletions(word: str) -> Iterator[str]:
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class PhraseHit(Generic[K]):
    """A phrase found at tokens[start:end] (end exclusive; gaps inside are allowed)."""

    key: K
    start: int
    end: int


class PhraseMatcher(Generic[K]):
    """Finds phrases in token lists; built once, then used for many messages.

    A phrase is a sequence of words; between two consecutive words up to `max_gap` other tokens
    may stand ("can't swallow" matches "can't really swallow"). A word is either exact ("swollen",
    also found as "נפיחות" inside "והנפיחות", or misspelt as "swolen") or a prefix pattern
    ("swell*": swell, swells, swelling). Each phrase carries keys saying what it stands for.

    Speed: every token is looked up, not compared with every word. Exact words are a dict;
    typos go through a deletion index (every word of 5+ letters and each of its one-letter
    deletions), so a token costs about one lookup per letter per stem, whatever the vocabulary.
    """

    def __init__(self, *, fuzzy: bool = True, fuzzy_exempt: Iterable[str] = ()) -> None:
        self._fuzzy = fuzzy
        # Real words one typo away from a vocabulary word ("never" / "fever") must stay themselves.
        self._fuzzy_exempt = frozenset(normalize(word) for word in fuzzy_exempt)
        self._words: list[str] = []
        self._exact: dict[str, int] = {}
        self._prefix: dict[str, int] = {}
        self._deletion_index: dict[str, set[int]] = {}
        self._phrase_ids: dict[tuple[tuple[int, ...], int], int] = {}
        self._phrases: list[tuple[tuple[int, ...], int, list[K]]] = []
        # Each phrase's words as a set: a phrase with a word the message lacks is skipped.
        self._phrase_words: list[frozenset[int]] = []
        self._by_first_word: dict[int, list[int]] = {}
        self._token_cache: dict[str, frozenset[int]] = {}

    # -- building -------------------------------------------------------------------------

    def word_id(self, word: str) -> int:
        """The id of a vocabulary word ("swollen", or a prefix pattern "swell*"), added if new."""
        if word.endswith("*"):
            stem = word[:-1]
            if len(stem) < PREFIX_PATTERN_MIN:
                raise ValueError(f"prefix pattern {word!r} needs {PREFIX_PATTERN_MIN}+ letters")
            table = self._prefix
            key = stem
        else:
            table = self._exact
            key = word
        if key in table:
            return table[key]
        word_id = len(self._words)
        self._words.append(word)
        table[key] = word_id
        if table is self._exact and len(key) >= FUZZY_MIN_LENGTH:
            for variant in (key, *_deletions(key)):
                self._deletion_index.setdefault(variant, set()).add(word_id)
        self._token_cache.clear()
        return word_id

    def add(self, words: Sequence[str], key: K, *, max_gap: int) -> None:
        """Register the phrase `words` (already tokenised; "word*" for a prefix) under `key`."""
        if not words:
            raise ValueError("a phrase needs at least one word")
        ids = tuple(self.word_id(word) for word in words)
        signature = (ids, max_gap)
        phrase_id = self._phrase_ids.get(signature)
        if phrase_id is None:
            phrase_id = len(self._phrases)
            self._phrase_ids[signature] = phrase_id
            self._phrases.append((ids, max_gap, []))
            self._phrase_words.append(frozenset(ids))
            self._by_first_word.setdefault(ids[0], []).append(phrase_id)
        keys = self._phrases[phrase_id][2]
        if key not in keys:
            keys.append(key)

    # -- matching -------------------------------------------------------------------------

    def token_word_ids(self, token: str) -> frozenset[int]:
        """Ids of the vocabulary words `token` reads as (prefixes stripped, one typo allowed)."""
        cached = self._token_cache.get(token)
        if cached is not None:
            return cached
        found: set[int] = set()
        for stem in hebrew_stems(token):
            exact = self._exact.get(stem)
            if exact is not None:
                found.add(exact)
            elif self._fuzzy and len(stem) >= FUZZY_MIN_LENGTH and stem not in self._fuzzy_exempt:
                for variant in (stem, *_deletions(stem)):
                    for word_id in self._deletion_index.get(variant, ()):
                        if fuzzy_equal(stem, self._words[word_id]):
                            found.add(word_id)
            if self._prefix:
                for length in range(PREFIX_PATTERN_MIN, len(stem) + 1):
                    prefix_id = self._prefix.get(stem[:length])
                    if prefix_id is not None:
                        found.add(prefix_id)
        result = frozenset(found)
        if len(self._token_cache) > 50_000:
            self._token_cache.clear()
        self._token_cache[token] = result
        return result

    def find(self, toks: Sequence[str]) -> list[PhraseHit[K]]:
        """Every phrase occurrence in `toks`: for each start, the shortest match of each phrase."""
        per_token = [self.token_word_ids(token) for token in toks]
        return self.find_in(per_token)

    def find_in(self, per_token: Sequence[frozenset[int]]) -> list[PhraseHit[K]]:
        """`find`, given each token's word ids (from `token_word_ids`)."""
        hits: list[PhraseHit[K]] = []
        present = frozenset().union(*per_token)
        for start, word_ids in enumerate(per_token):
            for word_id in word_ids:
                for phrase_id in self._by_first_word.get(word_id, ()):
                    if not self._phrase_words[phrase_id] <= present:
                        continue
                    words, max_gap, keys = self._phrases[phrase_id]
                    end = _extend(per_token, start, words, 1, max_gap)
                    if end is not None:
                        hits.extend(PhraseHit(key, start, end) for key in keys)
        return hits


def _extend(
    per_token: Sequence[frozenset[int]], position: int, words: tuple[int, ...], k: int, gap: int
) -> int | None:
    """End (exclusive) of the phrase whose word k-1 is at `position`, or None if it stops here."""
    if k == len(words):
        return position + 1
    last = min(len(per_token), position + 2 + gap)
    for nxt in range(position + 1, last):
        if words[k] in per_token[nxt]:
            end = _extend(per_token, nxt, words, k + 1, gap)
            if end is not None:
                return end
    return None


def phrase_words(phrase: str) -> list[str]:
    """Split a rule phrase into words the way messages are tokenised; "word*" stays a pattern."""
    words: list[str] = []
    for piece in normalize(phrase).split():
        if piece.endswith("*") and len(piece) > 1:
            words.append("".join(_word_tokens(piece[:-1])) + "*")
        else:
            words.extend(_word_tokens(piece))
    return words
