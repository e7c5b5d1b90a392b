"""Messages pushed to an open web chat (a dentist's reply, a reminder): the web chat's side of
the assistant's way out (`serving.assistant.Channel`).

A page holds one stream (`GET /api/v1/chat/stream`, server-sent events) for its visitor id. A
pushed message is published under that id: in process when the service runs as one process,
through Redis pub/sub when `REDIS_URL` is set, so the replica holding the stream gets it
whichever replica sent it. A message pushed while no page is open is kept only in the
conversation (the page shows what it receives from then on).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from serving.assistant import Button, Image, Place, Recipient
from serving.pubsub import PushHub, push_hub

logger = logging.getLogger(__name__)

MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
"""Where the page's "Open in a map" link goes for a place with coordinates."""


def web_chat_hub(redis_url: str | None, key_prefix: str) -> PushHub:
    """The hub open web chats listen on, keyed by visitor id."""
    return push_hub(redis_url, f"{key_prefix}web-chat:")


class WebChatChannel:
    """The web chat as an outbound channel: events on the visitor's stream.

    Delivery means "handed to the streams": False when no page of the visitor is open (the
    message stays in the conversation) or Redis cannot be reached.
    """

    def __init__(self, hub: PushHub) -> None:
        self._hub = hub

    async def send_text(self, to: Recipient, text: str, buttons: Sequence[Button]) -> bool:
        return await self._push(
            to,
            {
                "kind": "text",
                "text": text,
                "language": to.language,
                "buttons": [{"text": b.text, "data": b.data} for b in buttons],
            },
        )

    async def send_location(self, to: Recipient, place: Place) -> bool:
        located = place.latitude is not None and place.longitude is not None
        return await self._push(
            to,
            {
                "kind": "location",
                "language": to.language,
                "title": place.title,
                "address": place.address,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "map_url": MAP_URL.format(lat=place.latitude, lon=place.longitude)
                if located
                else None,
            },
        )

    async def send_image(self, to: Recipient, image: Image) -> bool:
        data = base64.b64encode(image.data).decode("ascii")
        return await self._push(
            to,
            {
                "kind": "image",
                "language": to.language,
                "src": f"data:{image.media_type};base64,{data}",
                "caption": image.caption,
            },
        )

    async def _push(self, to: Recipient, event: dict[str, Any]) -> bool:
        try:
            receivers = await self._hub.publish(to.user_id, event)
        except (redis.RedisError, OSError) as error:
            logger.warning("web chat push failed", extra={"error": type(error).__name__})
            return False
        return receivers > 0
