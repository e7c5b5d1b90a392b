"""Messages pushed to an open web chat (a dentist's reply, a reminder): the web chat's side of
the assistant's way out (`serving.assistant.Channel`).

A page holds one stream (`GET /api/v1/chat/stream`, server-sent events) for its visitor id. A
pushed message is published under that id: in process when the service runs as one process,
through Redis pub/sub when `REDIS_URL` is set, so the replica holding the stream gets it
whichever replica sent it. A message pushed while no page is open is kept only in the
conversation (the page shows what it receives from then on).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as redis

from serving.assistant import Button, Image, Place, Recipient

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "dental:web-chat:"
MAP_URL = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
"""Where the page's "Open in a map" link goes for a place with coordinates."""
QUEUE_LIMIT = 100
"""Messages kept for a slow stream before the oldest are dropped (a page that stops reading)."""


class Subscription(Protocol):
    async def next(self, wait_seconds: float) -> dict[str, Any] | None:
        """The next pushed event, or None when `wait_seconds` pass without one."""
        ...


class PushHub(Protocol):
    async def publish(self, user_id: str, event: dict[str, Any]) -> int:
        """Send `event` to the visitor's open streams; how many received it (in process), or
        how many replicas' subscribers Redis handed it to."""
        ...

    def subscribe(self, user_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)

    async def next(self, wait_seconds: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.queue.get(), wait_seconds)
        except TimeoutError:
            return None

    def put(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            logger.warning("web chat stream too slow: oldest pushed message dropped")
        self.queue.put_nowait(event)


class LocalPushHub:
    """Streams of this process only (one serving process)."""

    def __init__(self) -> None:
        self._streams: dict[str, set[_QueueSubscription]] = {}

    async def publish(self, user_id: str, event: dict[str, Any]) -> int:
        streams = self._streams.get(user_id, set())
        for stream in streams:
            stream.put(event)
        return len(streams)

    @asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        subscription = _QueueSubscription()
        self._streams.setdefault(user_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            streams = self._streams.get(user_id, set())
            streams.discard(subscription)
            if not streams:
                self._streams.pop(user_id, None)

    async def close(self) -> None:
        self._streams.clear()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def next(self, wait_seconds: float) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while (left := deadline - loop.time()) > 0:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is None or message.get("type") != "message":
                continue
            try:
                event: dict[str, Any] = json.loads(message["data"])
            except (TypeError, ValueError):
                logger.warning("malformed web chat push ignored")
                continue
            return event
        return None


class RedisPushHub:
    """Streams of every replica, through Redis pub/sub (one connection per open stream)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)

    async def publish(self, user_id: str, event: dict[str, Any]) -> int:
        receivers: int = await self._redis.publish(CHANNEL_PREFIX + user_id, json.dumps(event))
        return receivers

    @asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(CHANNEL_PREFIX + user_id)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


def push_hub(redis_url: str | None) -> PushHub:
    return RedisPushHub(redis_url) if redis_url else LocalPushHub()


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
