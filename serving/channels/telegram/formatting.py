"""Replies in Telegram's HTML parse mode: escaped, and split to fit one message each."""

from __future__ import annotations

import html

MESSAGE_LIMIT = 4096
"""Telegram's limit for one message's text."""


def escape_html(text: str) -> str:
    """`text` safe for parse mode HTML: only `<`, `>` and `&` need escaping."""
    return html.escape(text, quote=False)


def html_chunks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` escaped for HTML and cut into messages of at most `limit` UTF-16 units each.

    The plain text is cut before escaping, so a cut never falls inside an entity such as
    `&amp;`; cuts prefer a paragraph break, then a line break, then a space. Lengths are
    counted escaped and in UTF-16 units (as Telegram counts), which is the strictest reading.
    """
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        fits = _longest_fitting_prefix(rest, limit)
        if fits == len(rest):
            chunks.append(escape_html(rest))
            break
        cut = _best_cut(rest, fits)
        chunks.append(escape_html(rest[:cut].rstrip()))
        rest = rest[cut:].lstrip()
    return [chunk for chunk in chunks if chunk]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_fitting_prefix(text: str, limit: int) -> int:
    """The number of characters of `text` whose escaped form fits in `limit` units."""
    used = 0
    for index, char in enumerate(text):
        used += _units(escape_html(char))
        if used > limit:
            return index
    return len(text)


def _best_cut(text: str, fits: int) -> int:
    window = text[:fits]
    floor = fits // 2  # a boundary too early would leave a tiny message
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position > floor:
            return position + len(separator)
    return max(fits, 1)
