"""The run lock on Redis: SET key token NX PX ttl, released by a script that deletes the key only while it
still holds this runner's token (so a runner whose lock expired never frees the next runner's). The TTL
bounds how long a runner that died keeps the others out; a runner that outlives it may overlap the next."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisRunLock:
    def __init__(self, client: Redis, *, prefix: str = "parley:lock:", ttl_seconds: float = 900.0) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key = f"{self._prefix}{name}"
        token = secrets.token_hex(16)
        if not await self._client.set(key, token, nx=True, px=self._ttl_ms):
            yield False
            return
        try:
            yield True
        finally:
            await self._client.eval(_RELEASE, 1, key, token)
