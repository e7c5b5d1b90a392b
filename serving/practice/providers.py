"""Which of the clinic's providers a patient (or a model) named: `match_providers`.

A mention is a name, surname, first name, title or role, in English or Hebrew, as written:
"Dr. Mizrahi", "rivka", "לד"ר מזרחי", "נועה", "the hygienist", "השיננית". Titles are ignored,
Hebrew one-letter prefixes (ב, ל, מ, ה, ו, ש, כ) are tried off, and a name of five letters or
more may carry one typo. Every remaining word of the mention must name the provider; a role
word alone names everyone in that role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from serving.practice.models import Provider
from serving.safety.text import is_hebrew

TITLES = frozenset({"dr", "doctor", "doc", "dentist", "rdh", "דר", "דוקטור", "רופא", "רופאה"})
HYGIENIST_WORDS = frozenset({"hygienist", "hygenist", "hygientist", "שיננית", "שינן", "השיננית"})
NAME_TITLES = frozenset({"dr", "דר", "דוקטור"})
"""Titles written before a name: what follows is a name even when the clinic has none such."""
_FILLERS = frozenset({"the", "a", "with", "see", "אצל", "עם", "את", "של", "and", "ו"})
_PREFIXES = "בלמהוכש"
_WORD = re.compile(r"[^\W_]+(?:[\"'״׳][^\W_]+)?", re.UNICODE)


def mention_words(text: str) -> list[str]:
    """Lower-case words of a name as written, with Hebrew abbreviation quotes kept inside."""
    return [w.replace("״", '"').replace('"', "") for w in _WORD.findall(text.lower())]


def match_providers(mention: str, providers: Sequence[Provider]) -> list[Provider]:
    """The providers `mention` names (several when it names a role or a shared first name)."""
    words = [w for w in mention_words(mention) if w not in _FILLERS]
    if any(_is_one_of(w, HYGIENIST_WORDS) for w in words):
        return [p for p in providers if p.role == "hygienist"]
    names = [w for w in words if not _is_one_of(w, TITLES)]
    if not names:
        return []
    return [p for p in providers if all(_names(w, provider_words(p)) for w in names)]


def provider_words(provider: Provider) -> frozenset[str]:
    """The words of a provider's names (both languages), titles and roles left out."""
    words = mention_words(f"{provider.name} {provider.name_he}")
    return frozenset(w for w in words if w not in TITLES and w not in HYGIENIST_WORDS)


def _names(word: str, names: Iterable[str]) -> bool:
    candidates = {word}
    if len(word) > 3 and word[0] in _PREFIXES:
        candidates.add(word[1:])
        if word[1] in _PREFIXES and len(word) > 4:
            candidates.add(word[2:])
    for candidate in candidates:
        for name in names:
            if candidate == name or (len(name) >= 5 and _one_edit(candidate, name)):
                return True
            if (
                is_hebrew(name)
                and len(name) >= 3
                and spelling_skeleton(candidate) == spelling_skeleton(name)
            ):
                return True
    return False


def spelling_skeleton(word: str) -> str:
    """A Hebrew word without the vowel letters ו and י after its first letter: "ריבקה" and
    "רבקה", spelled with and without them, are one name."""
    return word[:1] + "".join(letter for letter in word[1:] if letter not in "וי")


def _is_one_of(word: str, words: frozenset[str]) -> bool:
    """`word` is in `words`, as written or after a one-letter Hebrew prefix."""
    return word in words or (len(word) > 2 and word[0] in _PREFIXES and word[1:] in words)


def _one_edit(a: str, b: str) -> bool:
    """At most one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
