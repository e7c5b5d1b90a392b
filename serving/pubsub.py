"""Publish and subscribe by key, in process or across replicas through Redis pub/sub.

Open web chats listen under their visitor id (`serving.channels.web.push`), a dentist's page
under its conversation id (`serving.escalation.events`). One serving process needs nothing
more than memory; with `REDIS_URL` set, whichever replica publishes, the replica holding the
subscriber receives. Delivery is best effort: what must not be lost is stored first, and the
event only says where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as redis

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 100
"""Events kept for a slow subscriber before the oldest are dropped (a page that stops reading)."""


class Subscription(Protocol):
    async def next(self, wait_seconds: float) -> dict[str, Any] | None:
        """The next pushed event, or None when `wait_seconds` pass without one."""
        ...


class PushHub(Protocol):
    async def publish(self, key: str, event: dict[str, Any]) -> int:
        """Send `event` to the key's subscribers; how many received it (in process), or how
        many replicas' subscribers Redis handed it to."""
        ...

    def subscribe(self, key: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

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
            logger.warning("subscriber too slow: oldest event dropped")
        self.queue.put_nowait(event)


class LocalPushHub:
    """Subscribers of this process only (one serving process)."""

    def __init__(self) -> None:
        self._streams: dict[str, set[_QueueSubscription]] = {}

    async def publish(self, key: str, event: dict[str, Any]) -> int:
        streams = self._streams.get(key, set())
        for stream in streams:
            stream.put(event)
        return len(streams)

    @asynccontextmanager
    async def subscribe(self, key: str) -> AsyncIterator[Subscription]:
        subscription = _QueueSubscription()
        self._streams.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            streams = self._streams.get(key, set())
            streams.discard(subscription)
            if not streams:
                self._streams.pop(key, None)

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
                logger.warning("malformed published event ignored")
                continue
            return event
        return None


class RedisPushHub:
    """Subscribers of every replica, through Redis pub/sub (one connection per subscriber).
    `prefix` names the Redis channels, so hubs of different purposes never cross."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    async def publish(self, key: str, event: dict[str, Any]) -> int:
        receivers: int = await self._redis.publish(self._prefix + key, json.dumps(event))
        return receivers

    @asynccontextmanager
    async def subscribe(self, key: str) -> AsyncIterator[Subscription]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._prefix + key)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


def push_hub(redis_url: str | None, prefix: str) -> PushHub:
    """Redis pub/sub when `redis_url` is set, else this process's memory."""
    return RedisPushHub(redis_url, prefix) if redis_url else LocalPushHub()
