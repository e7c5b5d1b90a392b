"""The text a patient sends, as the assistant keeps it: `clean_text`, run by every channel's
message (and by `/api/v1/triage`) before anything is stored.

Refused with `InvalidMessage` (nothing is stored):

- text that is not valid Unicode: an unpaired UTF-16 surrogate, which JSON's `"\\ud800"`
  allows, cannot be stored or sent on (a pair written as two escapes is joined);
- text with nothing visible: only spaces, control and format characters (Unicode Zs, Cc, Cf),
  the Hangul fillers and the blank braille pattern (letters and symbols that show nothing),
  variation selectors or marks with no base;
- more than `MAX_TEXT_LENGTH` characters once cleaned.

Removed: control characters other than tab and line breaks (U+2028 and U+2029 become line
breaks), Unicode noncharacters, and invisible format characters — bidi marks, embeddings,
overrides and isolates (which can make a text read differently from how it is stored), the
byte-order mark, zero-width space, word joiner, soft hyphen, invisible operators, and tag
characters (which can hide text that a language model reads but a person does not see).

Kept, because they belong to what the patient wrote:

- a zero-width joiner or non-joiner between two visible characters: emoji sequences
  (family, profession and skin-tone emoji) and scripts that need them; elsewhere (at an end,
  next to a space, doubled) it joins nothing and is removed;
- the tag characters of an emoji subdivision flag (a black flag, two to six tag letters or
  digits, the cancel tag).

The safety rules and the NLU read a further normalised form (`serving.safety.text.normalize`)
without any format character, so a joiner kept inside a word hides nothing from them.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_TEXT_LENGTH", "InvalidMessage", "clean_text"]

MAX_TEXT_LENGTH = 4000
_RAW_LIMIT = MAX_TEXT_LENGTH * 4
"""Raw text over this length is refused before it is cleaned (bounds the work on padding)."""

_JOINERS = frozenset("\u200c\u200d")
_KEPT_CONTROLS = frozenset("\t\n\r")
_LINE_BREAKS = frozenset("\u2028\u2029")
_NOT_JOINABLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_FLAG_TAGS = re.compile("\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,6}\U000e007f")


class InvalidMessage(ValueError):
    """The message cannot be processed as sent (empty, too long, not valid Unicode, text and
    button together)."""


def clean_text(raw: str) -> str:
    """The patient's text as stored and answered (see the module's docstring); InvalidMessage
    when nothing can be kept or it is too long."""
    if len(raw) > _RAW_LIMIT:
        raise InvalidMessage(f"the message is too long: at most {MAX_TEXT_LENGTH} characters")
    try:
        text = raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise InvalidMessage("the message is not valid Unicode text") from None
    text = _join_where_they_join(_without_invisible(unicodedata.normalize("NFC", text))).strip()
    if not any(_visible(char) for char in text):
        raise InvalidMessage("the message is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidMessage(f"the message is too long: at most {MAX_TEXT_LENGTH} characters")
    return text


def _without_invisible(text: str) -> str:
    """Control, format and noncharacters removed, except joiners (decided next) and the tags
    of subdivision flags."""
    flags = {i for m in _FLAG_TAGS.finditer(text) for i in range(m.start(), m.end())}
    kept: list[str] = []
    for position, char in enumerate(text):
        if char in _LINE_BREAKS:
            kept.append("\n")
        elif position in flags or char in _JOINERS or not _invisible(char):
            kept.append(char)
    return "".join(kept)


def _invisible(char: str) -> bool:
    """A control (but tab and line breaks), format or noncharacter."""
    if char in _KEPT_CONTROLS:
        return False
    code = ord(char)
    noncharacter = 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
    return noncharacter or unicodedata.category(char) in ("Cc", "Cf")


def _join_where_they_join(text: str) -> str:
    """Joiners kept only between two characters they can join."""
    kept: list[str] = []
    for position, char in enumerate(text):
        if char in _JOINERS:
            following = text[position + 1] if position + 1 < len(text) else " "
            if not (kept and _joinable(kept[-1]) and _joinable(following)):
                continue
        kept.append(char)
    return "".join(kept)


def _joinable(char: str) -> bool:
    return char not in _JOINERS and unicodedata.category(char) not in _NOT_JOINABLE


def _visible(char: str) -> bool:
    category = unicodedata.category(char)
    shown = category[0] in "LNPS" or category in ("Co", "Cn")
    return shown and char not in _BLANK_GLYPHS
