"""Which language a message is written in: Hebrew or English, by majority of letters."""

from __future__ import annotations

import re
from typing import Literal, get_args

Language = Literal["he", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)


def as_language(value: str) -> Language:
    """A stored or requested language as one the assistant speaks: English, else Hebrew (the
    clinic's default)."""
    return "en" if value == "en" else "he"


_HEBREW_LETTER = re.compile(r"[\u05d0-\u05ea]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")


def detect_language(text: str, default: Language = "en") -> Language:
    """`he` or `en` by which alphabet has more letters in `text`; `default` on a tie or none.

    Mixed messages ("my tooth כואבת מאוד") count by majority, so a Hebrew sentence with one
    English word stays Hebrew.
    """
    return written_language(text) or default


def written_language(text: str) -> Language | None:
    """The language `text` is written in, by majority of letters; None when it does not say
    (no letters, or as many of each)."""
    hebrew = len(_HEBREW_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    if hebrew > latin:
        return "he"
    if latin > hebrew:
        return "en"
    return None
