"""Rate limits: how many messages one user id, one client address or one Telegram chat may
send per window before the assistant refuses the next ones (`RateLimited`); and, with limits of
their own, how many verification codes one phone or one address may ask for
(`serving.assistant.identity_codes`).

Each key's window starts with its first message and lasts `RATE_LIMIT_WINDOW_SECONDS`: up to
the limit is taken, the rest is refused until the window ends, and the refusal says when that is
(`retry_after`). Counters live in Redis when `REDIS_URL` is set, so the replicas share them
(`RedisRateLimiter`), else in the process (`MemoryRateLimiter`).

A message is counted against the keys its channel knows, broadest first (address, Telegram
chat, user); counting stops at the first key over its limit, so a refused message never counts
against narrower keys and a flood from one address cannot fill memory with user ids. The keys'
values (addresses, user and chat ids) are hashed before they are stored.

The limiter never takes the chat down: when Redis cannot be reached the message is let through,
the failure is logged (once per outage) and counted (`dental_rate_limit_errors_total`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from serving.observability.metrics import AppMetrics
from serving.settings import Settings

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 0.25
"""How long one check may wait on Redis before the message is let through: a slow Redis must
not slow every reply."""


class Scope(StrEnum):
    """What a counter counts, broadest first (the order keys are counted in)."""

    ADDRESS = "address"
    TELEGRAM_CHAT = "telegram_chat"
    USER = "user"
    PHONE = "phone"
    """A phone number a verification code is sent to."""


_ORDER = {scope: index for index, scope in enumerate(Scope)}


@dataclass(frozen=True)
class RateKey:
    """One counter a message is counted against."""

    scope: Scope
    value: str

    @classmethod
    def user(cls, channel: str, user_id: str) -> RateKey:
        """The user id a client gave (the same id on two channels is two users)."""
        return cls(Scope.USER, f"{channel}:{user_id}")

    @classmethod
    def address(cls, host: str) -> RateKey:
        """The client's network address, as the server saw it (behind a proxy: the address
        the proxy forwarded, see docs/OPERATIONS.md)."""
        return cls(Scope.ADDRESS, host)

    @classmethod
    def telegram_chat(cls, chat_id: int) -> RateKey:
        return cls(Scope.TELEGRAM_CHAT, str(chat_id))

    @classmethod
    def phone(cls, e164: str) -> RateKey:
        """A phone number, in E.164 so every way of typing it is one key."""
        return cls(Scope.PHONE, e164)


@dataclass(frozen=True)
class RateLimits:
    """Messages allowed per window and scope; a scope at 0 (or missing) is not limited."""

    window_seconds: int
    per_window: Mapping[Scope, int]

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            window_seconds=settings.rate_limit_window_seconds,
            per_window={
                Scope.ADDRESS: settings.rate_limit_per_address,
                Scope.TELEGRAM_CHAT: settings.rate_limit_per_telegram_chat,
                Scope.USER: settings.rate_limit_per_user,
            },
        )

    def limit(self, scope: Scope) -> int:
        return self.per_window.get(scope, 0)


@dataclass(frozen=True)
class Refusal:
    scope: Scope
    """The key over its limit (the broadest one, if several are)."""
    retry_after: int
    """Whole seconds until the window ends and a message is taken again (at least 1)."""
    first: bool
    """The first message refused for this key in this window: the moment to tell the patient
    (once, not on every message)."""


class RateLimited(Exception):
    """The message was refused by a rate limit; channels answer `retry_after` their way
    (HTTP 429 with `Retry-After`, a Telegram notice once per window)."""

    def __init__(self, refusal: Refusal, *, counted: str = "messages") -> None:
        super().__init__(f"too many {counted}: try again in {refusal.retry_after} s")
        self.scope = refusal.scope
        self.retry_after = refusal.retry_after
        self.first = refusal.first


class RateLimiter(Protocol):
    async def hit(self, keys: Sequence[RateKey]) -> Refusal | None:
        """Count one message against `keys`; a `Refusal` when one of them is over its limit."""
        ...

    async def close(self) -> None: ...


def _counted(limits: RateLimits, keys: Sequence[RateKey]) -> list[tuple[RateKey, int]]:
    """The keys that are limited, broadest first, with their limits."""
    limited = [(key, limits.limit(key.scope)) for key in keys]
    return sorted(
        ((key, limit) for key, limit in limited if limit > 0), key=lambda p: _ORDER[p[0].scope]
    )


def _verdict(
    counts: Sequence[tuple[RateKey, int, int, float]], metrics: AppMetrics | None
) -> Refusal | None:
    """From (key, limit, count, seconds left in its window), in counting order: refused at
    the first key over its limit."""
    for key, limit, count, seconds_left in counts:
        if count > limit:
            if metrics is not None:
                metrics.rate_limited.labels(key.scope.value).inc()
            return Refusal(key.scope, max(1, math.ceil(seconds_left)), first=count == limit + 1)
    return None


def _digest(key: RateKey) -> str:
    """The key's value as stored: addresses and ids are personal data, so only a hash."""
    return hashlib.blake2b(key.value.encode(), digest_size=12).hexdigest()


class MemoryRateLimiter:
    """Counters in this process: for one replica (every replica would count on its own)."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: AppMetrics | None = None,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._metrics = metrics
        self._windows: dict[tuple[Scope, str], tuple[float, int]] = {}
        """Per key: when its window ends, and the messages counted in it."""
        self._swept_at = clock()

    async def hit(self, keys: Sequence[RateKey]) -> Refusal | None:
        # No await in here: one check is atomic on the event loop.
        now = self._clock()
        self._sweep(now)
        counts = []
        for key, limit in _counted(self._limits, keys):
            counter = (key.scope, _digest(key))
            ends, count = self._windows.get(counter, (0.0, 0))
            if ends <= now:  # the key's first message, or its last window has passed
                ends, count = now + self._limits.window_seconds, 0
            self._windows[counter] = (ends, count + 1)
            counts.append((key, limit, count + 1, ends - now))
            if count + 1 > limit:
                break
        return _verdict(counts, self._metrics)

    def _sweep(self, now: float) -> None:
        """Forget windows that have passed, once a window (memory stays bounded)."""
        if now - self._swept_at < self._limits.window_seconds:
            return
        self._swept_at = now
        self._windows = {k: w for k, w in self._windows.items() if w[0] > now}

    async def close(self) -> None:
        self._windows = {}


# Count keys in order and stop at the first over its limit, in one atomic step. A counter's
# window starts with its first message (the key expires when the window ends); the reply is
# the count and the milliseconds left of each key counted.
_COUNT_SCRIPT = """
local window_ms = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = window_ms
  if count == 1 then
    redis.call('PEXPIRE', key, window_ms)
  else
    left = redis.call('PTTL', key)
    if left < 0 then
      redis.call('PEXPIRE', key, window_ms)
      left = window_ms
    end
  end
  result[#result + 1] = count
  result[#result + 1] = left
  if count > tonumber(ARGV[i + 1]) then
    break
  end
end
return result
"""


class RedisRateLimiter:
    """Counters in Redis, shared by every replica that uses the same Redis and `prefix`."""

    def __init__(
        self,
        limits: RateLimits,
        redis: Redis,
        *,
        prefix: str = "dental:ratelimit:",
        metrics: AppMetrics | None = None,
    ) -> None:
        self._limits = limits
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_COUNT_SCRIPT)
        self._metrics = metrics
        self._failing = False

    @classmethod
    def from_url(
        cls,
        url: str,
        limits: RateLimits,
        *,
        prefix: str = "dental:ratelimit:",
        metrics: AppMetrics | None = None,
    ) -> RedisRateLimiter:
        """A limiter on the Redis at `url`; connecting waits for the first message."""
        client = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(limits, client, prefix=prefix, metrics=metrics)

    async def hit(self, keys: Sequence[RateKey]) -> Refusal | None:
        counted = _counted(self._limits, keys)
        if not counted:
            return None
        names = [f"{self._prefix}{key.scope.value}:{_digest(key)}" for key, _ in counted]
        window_ms = self._limits.window_seconds * 1000
        try:
            reply = await self._script(
                keys=names, args=[window_ms, *(limit for _, limit in counted)]
            )
        except (RedisError, OSError) as error:
            self._fail_open(error)
            return None
        if self._failing:
            self._failing = False
            logger.info("rate limits: Redis answers again")
        counts = [
            (key, limit, int(reply[2 * i]), int(reply[2 * i + 1]) / 1000)
            for i, (key, limit) in enumerate(counted[: len(reply) // 2])
        ]
        return _verdict(counts, self._metrics)

    def _fail_open(self, error: Exception) -> None:
        """Let the message through: no Redis must not mean no chat."""
        if self._metrics is not None:
            self._metrics.rate_limit_errors.inc()
        if not self._failing:
            self._failing = True
            logger.warning(
                "rate limits: Redis unavailable, messages are not limited until it answers",
                extra={"error": type(error).__name__},
            )

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(
    settings: Settings,
    *,
    metrics: AppMetrics | None = None,
    limits: RateLimits | None = None,
    namespace: str = "ratelimit",
) -> RateLimiter:
    """Redis counters when `REDIS_URL` is set (shared by the replicas), else in-process ones.

    `limits`: the messages' limits from the settings unless given; `namespace`: the Redis keys'
    part after `REDIS_KEY_PREFIX`, so limiters with other limits never share a counter.
    """
    limits = limits or RateLimits.from_settings(settings)
    if settings.redis_url:
        prefix = f"{settings.redis_key_prefix}{namespace}:"
        return RedisRateLimiter.from_url(settings.redis_url, limits, prefix=prefix, metrics=metrics)
    return MemoryRateLimiter(limits, metrics=metrics)


def create_identity_code_limiters(
    settings: Settings, *, metrics: AppMetrics | None = None
) -> dict[Scope, RateLimiter]:
    """The limits of verification codes sent (`serving.assistant.identity_codes`): per phone
    (`Scope.PHONE`) and per client address (`Scope.ADDRESS`), each in its own window."""
    limits = {
        Scope.PHONE: RateLimits(
            settings.web_identity_phone_window_seconds,
            {Scope.PHONE: settings.web_identity_codes_per_phone},
        ),
        Scope.ADDRESS: RateLimits(
            settings.web_identity_address_window_seconds,
            {Scope.ADDRESS: settings.web_identity_codes_per_address},
        ),
    }
    return {
        scope: create_rate_limiter(
            settings, metrics=metrics, limits=scope_limits, namespace=f"identity-codes-{scope}"
        )
        for scope, scope_limits in limits.items()
    }


def create_staff_login_limiter(
    settings: Settings, *, metrics: AppMetrics | None = None
) -> RateLimiter:
    """Sign-in attempts per client address (`POST /api/v1/auth/login`): the accounts' own
    lock-out stops guessing one password; this stops one address trying many accounts."""
    limits = RateLimits(
        settings.staff_login_window_seconds,
        {Scope.ADDRESS: settings.staff_logins_per_address},
    )
    return create_rate_limiter(settings, metrics=metrics, limits=limits, namespace="staff-login")
