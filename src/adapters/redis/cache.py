"""The Cache port on Redis: one store every API and worker process shares."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError


class RedisCache:
    """Keys live under `prefix` so Parley can share a Redis (or a database number) with other software.

    Errors other than in `ping` propagate as `redis.exceptions.RedisError`; the HTTP layer answers 503."""

    def __init__(self, client: Redis, prefix: str = "parley:") -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        # The client leaves responses undecoded (see create_redis), so a value is the bytes we stored.
        return cast(bytes | None, await self._client.get(self._prefix + key))

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._client.set(self._prefix + key, value, ex=ttl_seconds)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def ping(self) -> bool:
        """False rather than an exception when Redis is unreachable: readiness reports it, it is not an error."""
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False
