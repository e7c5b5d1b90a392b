"""The Redis at 127.0.0.1:6379 for tests: each test writes under a key prefix of its own, and
its keys are deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

REDIS_URL = "redis://127.0.0.1:6379/0"


async def keys_under(prefix: str) -> list[str]:
    client = Redis.from_url(REDIS_URL)
    try:
        return [key.decode() async for key in client.scan_iter(match=f"{prefix}*")]
    finally:
        await client.aclose()


@pytest.fixture(name="redis_prefix")
async def redis_prefix_fixture() -> AsyncIterator[str]:
    """A key prefix of this test's own."""
    prefix = f"dental-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
