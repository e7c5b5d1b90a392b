"""What an update is and which chat it belongs to, read from the raw JSON at the webhook (before
python-telegram-bot parses it), so that storing an update stays cheap; and the update parsed,
or refused as unreadable, when it is answered."""

from __future__ import annotations

import re
from typing import Any

from telegram import Bot, Update

CHAT_CARRIERS = ("message", "edited_message", "channel_post", "edited_channel_post")
_FIELD_NAME = re.compile(r"^[a-z_]{1,40}$")


class MalformedUpdate(ValueError):
    """The body is not a Telegram update (no integer `update_id`)."""


class UnreadableUpdate(ValueError):
    """A stored update python-telegram-bot cannot parse (a required field missing or of the
    wrong type): it never will, so it is dead-lettered at once instead of retried.

    `reason` names the error class and what is wrong in words an operator can act on, never
    a value from the update (which may be the patient's text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_update(payload: dict[str, Any], bot: Bot) -> Update:
    """The update parsed by python-telegram-bot; UnreadableUpdate if it cannot be."""
    try:
        return Update.de_json(payload, bot)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        kind = kind_of(payload)
        subject = f"this {kind} update" if _FIELD_NAME.match(kind) else "this update"
        problem = "does not match the Bot API's schema"
        missing = error.args[0] if isinstance(error, KeyError) and error.args else None
        if isinstance(missing, str) and _FIELD_NAME.match(missing):
            problem = f"has no '{missing}' field"
        raise UnreadableUpdate(f"{type(error).__name__}: {subject} {problem}") from None


def update_id_of(payload: Any) -> int:
    if not isinstance(payload, dict):
        raise MalformedUpdate("a Telegram update is a JSON object")
    value = payload.get("update_id")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise MalformedUpdate("a Telegram update has an integer update_id")
    return value


def kind_of(payload: dict[str, Any]) -> str:
    """The update's type: `message`, `callback_query`, ... (`unknown` if it carries none)."""
    kinds = [key for key in payload if key != "update_id"]
    return kinds[0][:40] if kinds else "unknown"


def chat_of(payload: dict[str, Any]) -> int | None:
    """The chat whose order the update keeps; None for updates outside any chat."""
    for carrier in CHAT_CARRIERS:
        chat = _dict(_dict(payload.get(carrier)).get("chat"))
        if isinstance(chat.get("id"), int):
            return int(chat["id"])
    query = _dict(payload.get("callback_query"))
    if query:
        chat = _dict(_dict(query.get("message")).get("chat"))
        if isinstance(chat.get("id"), int):
            return int(chat["id"])
        sender = _dict(query.get("from"))
        if isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


def private_chat_of(payload: dict[str, Any]) -> int | None:
    """The private chat of a patient's message or button press, read defensively from the raw
    update (it may be one python-telegram-bot cannot parse); None for anything else."""
    message = _dict(payload.get("message"))
    query = _dict(payload.get("callback_query"))
    chat = _dict(message.get("chat") or _dict(query.get("message")).get("chat"))
    if chat:
        return int(chat["id"]) if chat.get("type") == "private" and _is_id(chat.get("id")) else None
    sender = _dict(query.get("from"))
    return int(sender["id"]) if _is_id(sender.get("id")) else None


def language_code_of(payload: dict[str, Any]) -> str | None:
    """The sender's `language_code` from the raw update, if it carries one."""
    for carrier in ("message", "callback_query"):
        code = _dict(_dict(payload.get(carrier)).get("from")).get("language_code")
        if isinstance(code, str):
            return code
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
