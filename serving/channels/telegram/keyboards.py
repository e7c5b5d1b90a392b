"""Keyboards as JSON-able specs (kept in the outbox) and their python-telegram-bot markups.

An outbox entry must survive a restart, so keyboards are stored as plain data: `{"inline":
[[text, data], ...]}` (one button per row), `{"contact": label}` (the "Share my phone"
keyboard, private chats only) or `{"remove": true}`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from serving.assistant import Button

logger = logging.getLogger(__name__)

CALLBACK_DATA_LIMIT = 64
"""Bytes Telegram allows in `callback_data`."""

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def inline_spec(buttons: Sequence[Button]) -> dict[str, Any] | None:
    """An inline keyboard of `buttons`; a button whose data does not fit is left out (logged),
    never cut, since a cut button would act on something else."""
    rows = []
    for button in buttons:
        if len(button.data.encode()) > CALLBACK_DATA_LIMIT:
            logger.error("button left out: callback data over 64 bytes")
            continue
        rows.append([button.text, button.data])
    return {"inline": rows} if rows else None


def contact_spec(label: str) -> dict[str, Any]:
    return {"contact": label}


REMOVE_SPEC: dict[str, Any] = {"remove": True}


def markup(spec: dict[str, Any] | None) -> Markup | None:
    if spec is None:
        return None
    if "inline" in spec:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(text, callback_data=data)] for text, data in spec["inline"]]
        )
    if "contact" in spec:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(spec["contact"], request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return ReplyKeyboardRemove()
