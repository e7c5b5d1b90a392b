"""Language detection by majority of letters."""

from __future__ import annotations

import pytest

from serving.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my tooth hurts", "en"),
        ("כואבת לי השן", "he"),
        ("my tooth כואבת מאוד אפשר לבוא היום", "he"),  # mixed: Hebrew has more letters
        ("hi, I need an invoice בבקשה", "en"),
        ("שלחו לי את INV/2026/0042", "he"),  # digits and slashes are not letters
        ("שָׁלוֹם", "he"),  # niqqud is not a letter
    ],
)
def test_detect_language_by_majority(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "10:30", "👍", "?!"])
def test_detect_language_falls_back_to_default_without_letters(text: str) -> None:
    assert detect_language(text) == "en"
    assert detect_language(text, default="he") == "he"


def test_detect_language_tie_is_the_default() -> None:
    assert detect_language("ab אב") == "en"
    assert detect_language("ab אב", default="he") == "he"
