"""Normalisation, tokenisation, Hebrew prefixes, typo tolerance and phrase matching."""

from __future__ import annotations

import pytest

from serving.safety.text import (
    PhraseMatcher,
    clauses,
    fuzzy_equal,
    hebrew_stems,
    normalize,
    phrase_words,
    sentences,
    tokens,
)


def test_normalize_removes_niqqud_and_invisible_characters_and_keeps_final_letters() -> None:
    assert normalize("שָׁלוֹם") == "שלום"
    assert normalize("\u200fכואב\u200e לי\x00") == "כואב לי"
    assert normalize("ABC  Def\t\tghi") == "abc def ghi"
    # Final letters are letters of their own, not folded into their regular forms.
    assert normalize("ם ן ץ ף ך") == "ם ן ץ ף ך"
    # Gershayim and geresh become ASCII quotes; full-width forms fold (NFKC).
    assert normalize("מ״ג ג׳") == "מ\"ג ג'"
    assert normalize("ＡＢＣ１２") == "abc12"


def test_normalize_keeps_newlines_as_sentence_ends() -> None:
    assert normalize("  hi \r\n\r\n there ") == "hi\nthere"


def test_tokens_split_scripts_and_drop_quotes_inside_words() -> None:
    assert tokens("I can't swallow!") == ["i", "cant", "swallow"]
    assert tokens("my tooth כואבת מאוד") == ["my", "tooth", "כואבת", "מאוד"]
    assert tokens('500 מ"ג') == ["500", "מג"]
    assert tokens("ל-cleaning") == ["ל", "cleaning"]
    assert tokens("הroot") == ["ה", "root"]
    assert tokens("39c") == ["39", "c"]


def test_clauses_split_at_commas_but_not_at_decimal_points() -> None:
    assert clauses("no fever, my face is swollen") == [
        ["no", "fever"],
        ["my", "face", "is", "swollen"],
    ]
    assert clauses("price 450.00 ok") == [["price", "450", "00", "ok"]]
    assert sentences("Take it. Then call, ok?") == [["take", "it"], ["then", "call", "ok"]]


def test_hebrew_stems_strip_attached_prefixes_one_at_a_time() -> None:
    assert hebrew_stems("וכשהשן") == ["וכשהשן", "כשהשן", "שהשן", "השן", "שן"]
    assert hebrew_stems("מהשן") == ["מהשן", "השן", "שן"]
    assert hebrew_stems("שהנפיחות") == ["שהנפיחות", "הנפיחות", "נפיחות"]
    # A stem keeps at least two letters; a word without prefix letters stays alone.
    assert hebrew_stems("בה") == ["בה"]
    assert hebrew_stems("דם") == ["דם"]
    assert hebrew_stems("swollen") == ["swollen"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("swolen", "swollen"),  # deletion
        ("bleding", "bleeding"),
        ("hurst", "hurts"),  # adjacent transposition
        ("swalow", "swallow"),
        ("נפיכות", "נפיחות"),  # substitution (neighbouring key)
        ("נפחות", "נפיחות"),  # missing yod
        ("sensitivty", "sensitivity"),
    ],
)
def test_fuzzy_equal_accepts_one_edit_in_long_words(a: str, b: str) -> None:
    assert fuzzy_equal(a, b)
    assert fuzzy_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("pain", "paid"),  # short words must match exactly
        ("חום", "חוס"),
        ("swelling", "swell"),  # more than one edit
        ("bleeding", "bleaching"),
        ("abcdef", "badcfe"),
    ],
)
def test_fuzzy_equal_rejects_short_words_and_two_edits(a: str, b: str) -> None:
    assert not fuzzy_equal(a, b)


def _matcher() -> PhraseMatcher[str]:
    matcher: PhraseMatcher[str] = PhraseMatcher(fuzzy_exempt=["never"])
    matcher.add(phrase_words("can't swallow"), "swallow", max_gap=2)
    matcher.add(phrase_words("swell*"), "swell", max_gap=0)
    matcher.add(phrase_words("נפיחות"), "swelling_he", max_gap=0)
    matcher.add(phrase_words("fever"), "fever", max_gap=0)
    return matcher


def test_phrase_matcher_allows_small_gaps_only() -> None:
    matcher = _matcher()
    assert [h.key for h in matcher.find(tokens("I cant really swallow"))] == ["swallow"]
    assert [h.key for h in matcher.find(tokens("cant eat or drink or swallow"))] == []


def test_phrase_matcher_reads_prefix_patterns_hebrew_prefixes_and_typos() -> None:
    matcher = _matcher()
    assert {h.key for h in matcher.find(tokens("swelling"))} == {"swell"}
    assert {h.key for h in matcher.find(tokens("והנפיחות גדלה"))} == {"swelling_he"}
    assert {h.key for h in matcher.find(tokens("ונפיכות"))} == {"swelling_he"}
    assert {h.key for h in matcher.find(tokens("feverr"))} == {"fever"}
    hit = matcher.find(tokens("so I cant swallow"))[0]
    assert (hit.start, hit.end) == (2, 4)


def test_phrase_matcher_keeps_exempt_real_words_as_themselves() -> None:
    # "never" is one edit from "fever"; a real word is not a typo.
    assert _matcher().find(tokens("never")) == []


def test_prefix_patterns_need_three_letters() -> None:
    with pytest.raises(ValueError, match="3\\+ letters"):
        PhraseMatcher[str]().add(["ab*"], "x", max_gap=0)
