"""What an update is and which chat it belongs to, read from the raw JSON at the webhook (before
python-telegram-bot parses it), so that storing an update stays cheap."""

from __future__ import annotations

from typing import Any

CHAT_CARRIERS = ("message", "edited_message", "channel_post", "edited_channel_post")


class MalformedUpdate(ValueError):
    """The body is not a Telegram update (no integer `update_id`)."""


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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
