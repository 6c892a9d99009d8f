"""Fixtures for the Redis server at 127.0.0.1:6379: a real client, and a key prefix per test so tests never
see each other's keys and leave none behind. A Redis that is down fails the test; it never skips it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.redis.client import create_redis

UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1, so a connection is refused at once: Redis being down, without waiting."""


@pytest.fixture
def redis_url() -> str:
    return "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    try:
        await client.ping()
    except RedisError as error:
        await client.aclose()
        pytest.fail(f"Redis is not reachable at {redis_url}: {error!r}")
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis_client: Redis) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted when the test ends."""
    prefix = f"parley-test:{uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
async def unreachable_redis_client() -> AsyncIterator[Redis]:
    """A client configured like production's, pointed at a port where no Redis listens."""
    client = create_redis(UNREACHABLE_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def unresponsive_redis_url() -> AsyncIterator[str]:
    """A listener that accepts connections and never answers: a hung or overloaded Redis."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()
