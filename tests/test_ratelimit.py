"""The rate limiters themselves: windows, the order keys are counted in, and counters shared
through the Redis at 127.0.0.1:6379 (a unique key prefix per test)."""

from __future__ import annotations

from serving.ratelimit import (
    MemoryRateLimiter,
    RateKey,
    RateLimits,
    RedisRateLimiter,
    Scope,
)
from tests.redis_keys import REDIS_URL, redis_prefix_fixture  # noqa: F401


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMITS = RateLimits(
    window_seconds=60, per_window={Scope.USER: 2, Scope.ADDRESS: 3, Scope.TELEGRAM_CHAT: 0}
)


async def test_memory_windows_refuse_then_take_messages_again() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(LIMITS, clock=clock)
    user = (RateKey.user("web", "u1"),)
    assert await limiter.hit(user) is None
    clock.now += 10
    assert await limiter.hit(user) is None
    refused = await limiter.hit(user)
    assert refused is not None and refused.first and refused.scope is Scope.USER
    assert refused.retry_after == 50, "until the window that began with the first message ends"
    again = await limiter.hit(user)
    assert again is not None and not again.first, "the patient was told already"
    clock.now += 50
    assert await limiter.hit(user) is None, "a new window"
    assert await limiter.hit((RateKey.telegram_chat(5),) * 10) is None, "0: not limited"


async def test_the_broadest_key_refuses_first_and_alone() -> None:
    limiter = MemoryRateLimiter(LIMITS, clock=Clock())
    address = RateKey.address("192.0.2.1")
    for n in range(3):
        assert await limiter.hit((RateKey.user("web", f"u{n}"), address)) is None
    refused = await limiter.hit((RateKey.user("web", "u0"), address))
    assert refused is not None and refused.scope is Scope.ADDRESS
    # That refusal did not count against u0 (one message so far): from another address it
    # may send one more before its own limit refuses it.
    elsewhere = RateKey.address("192.0.2.2")
    assert await limiter.hit((RateKey.user("web", "u0"), elsewhere)) is None
    over = await limiter.hit((RateKey.user("web", "u0"), elsewhere))
    assert over is not None and over.scope is Scope.USER


async def test_redis_limiters_with_one_prefix_count_together(redis_prefix: str) -> None:
    limits = RateLimits(window_seconds=1, per_window={Scope.TELEGRAM_CHAT: 3})
    replicas = [RedisRateLimiter.from_url(REDIS_URL, limits, prefix=redis_prefix) for _ in "ab"]
    chat = (RateKey.telegram_chat(424242),)
    try:
        assert [await replicas[n % 2].hit(chat) for n in range(3)] == [None, None, None]
        refused = [await r.hit(chat) for r in replicas]
        assert [r is not None and r.first for r in refused] == [True, False]
        assert all(r is not None and r.retry_after == 1 for r in refused)
        elsewhere = RedisRateLimiter.from_url(REDIS_URL, limits, prefix=redis_prefix + "x:")
        assert await elsewhere.hit(chat) is None, "another prefix, other counters"
        await elsewhere.close()
    finally:
        for replica in replicas:
            await replica.close()
