"""The Cache port's contract, run against the in-process cache and Redis so the fake cannot drift."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from adapters.memory.cache import InMemoryCache
from adapters.redis.cache import RedisCache
from application.shared.ports import Cache

EXPIRY_DEADLINE_SECONDS = 3.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest) -> Cache:
    if request.param == "memory":
        return InMemoryCache()
    return RedisCache(request.getfixturevalue("redis_client"), prefix=request.getfixturevalue("redis_prefix"))


async def seconds_until_gone(cache: Cache, key: str) -> float:
    """Poll until `key` reads as missing; how long that took from the call (fails past the deadline)."""
    started = time.monotonic()
    while await cache.get(key) is not None:
        elapsed = time.monotonic() - started
        assert elapsed < EXPIRY_DEADLINE_SECONDS, f"{key!r} still cached after {elapsed:.1f} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_stored_value_comes_back_byte_for_byte(cache: Cache) -> None:
    value = b"\x00\xff binary \xc3\x28 not utf-8"
    await cache.set("reply", value, ttl_seconds=60)

    assert await cache.get("reply") == value


async def test_a_key_never_set_is_missing(cache: Cache) -> None:
    assert await cache.get("never-set") is None


async def test_setting_again_replaces_the_value(cache: Cache) -> None:
    await cache.set("reply", b"first", ttl_seconds=60)
    await cache.set("reply", b"second", ttl_seconds=60)

    assert await cache.get("reply") == b"second"


async def test_keys_hold_their_own_values(cache: Cache) -> None:
    await cache.set("a", b"alpha", ttl_seconds=60)
    await cache.set("b", b"beta", ttl_seconds=60)

    assert (await cache.get("a"), await cache.get("b")) == (b"alpha", b"beta")


async def test_a_deleted_key_is_missing_and_others_stay(cache: Cache) -> None:
    await cache.set("gone", b"x", ttl_seconds=60)
    await cache.set("kept", b"y", ttl_seconds=60)

    await cache.delete("gone")

    assert await cache.get("gone") is None
    assert await cache.get("kept") == b"y"


async def test_deleting_a_missing_key_is_not_an_error(cache: Cache) -> None:
    await cache.delete("never-set")

    assert await cache.get("never-set") is None


async def test_a_value_expires_after_its_ttl_and_not_before(cache: Cache) -> None:
    await cache.set("short", b"x", ttl_seconds=1)
    await cache.set("long", b"y", ttl_seconds=60)
    await cache.set("renewed", b"z", ttl_seconds=1)
    await cache.set("renewed", b"z", ttl_seconds=60)

    assert await cache.get("short") == b"x"
    assert await seconds_until_gone(cache, "short") >= 0.8
    assert await cache.get("long") == b"y"
    assert await cache.get("renewed") == b"z", "setting a key again must restart its TTL"


async def test_ping_says_the_store_answers(cache: Cache) -> None:
    assert await cache.ping() is True


@pytest.mark.redis
async def test_redis_prefixes_keep_deployments_sharing_a_server_apart(redis_client: Redis, redis_prefix: str) -> None:
    ours = RedisCache(redis_client, prefix=f"{redis_prefix}ours:")
    theirs = RedisCache(redis_client, prefix=f"{redis_prefix}theirs:")

    await ours.set("reply", b"ours", ttl_seconds=60)
    await theirs.set("reply", b"theirs", ttl_seconds=60)
    await theirs.delete("reply")

    assert await ours.get("reply") == b"ours"
    assert await theirs.get("reply") is None
