"""What a caller sees when Redis is unreachable or hangs.

`ping()` answers False (readiness turns it into "not ready"); every other call raises a `RedisError`
(`ConnectionError` when nothing listens, `TimeoutError` when Redis does not answer) within the client's
timeouts instead of hanging, and the HTTP layer turns any `RedisError` into a 503 problem. Nothing falls
back silently: a rate limit that cannot be checked is not waived."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.redis.cache import RedisCache
from adapters.redis.client import create_redis
from adapters.redis.rate_limiter import RedisRateLimiter

REFUSED_WITHIN_SECONDS = 1.0
HUNG_WITHIN_SECONDS = 3.0
"""The client's 2 s socket timeout, plus slack."""

CALLS: dict[str, Callable[[Redis], Awaitable[object]]] = {
    "cache.get": lambda client: RedisCache(client).get("reply"),
    "cache.set": lambda client: RedisCache(client).set("reply", b"x", ttl_seconds=60),
    "cache.delete": lambda client: RedisCache(client).delete("reply"),
    "rate_limiter.hit": lambda client: RedisRateLimiter(client).hit("user:1", 5, 60),
}


async def test_ping_answers_false_at_once_when_nothing_listens(unreachable_redis_client: Redis) -> None:
    started = time.monotonic()

    assert await RedisCache(unreachable_redis_client).ping() is False
    assert time.monotonic() - started < REFUSED_WITHIN_SECONDS


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_calls_raise_at_once_when_nothing_listens(
    unreachable_redis_client: Redis, call: Callable[[Redis], Awaitable[object]]
) -> None:
    started = time.monotonic()

    with pytest.raises(RedisConnectionError):
        await call(unreachable_redis_client)

    assert time.monotonic() - started < REFUSED_WITHIN_SECONDS


async def test_ping_answers_false_within_the_timeout_when_redis_hangs(unresponsive_redis_url: str) -> None:
    async with create_redis(unresponsive_redis_url) as client:
        started = time.monotonic()

        assert await RedisCache(client).ping() is False
        assert time.monotonic() - started < HUNG_WITHIN_SECONDS


async def test_a_hit_raises_within_the_timeout_when_redis_hangs(unresponsive_redis_url: str) -> None:
    async with create_redis(unresponsive_redis_url) as client:
        started = time.monotonic()

        with pytest.raises(RedisTimeoutError):
            await RedisRateLimiter(client).hit("user:1", 5, 60)

        assert time.monotonic() - started < HUNG_WITHIN_SECONDS
