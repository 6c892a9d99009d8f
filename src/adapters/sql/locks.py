"""The run lock on PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a connection of its
own, held while the block runs. The lock goes with the connection: a runner that dies (its connection
dropped) frees it at once, and nothing is left to expire."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# A namespace of our own for the advisory locks' first key, so they never meet another application's.
_NAMESPACE = 0x7061726C  # "parl"


def lock_key(name: str) -> int:
    """A stable 32-bit key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


class PostgresAdvisoryLock:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key = {"space": _NAMESPACE, "key": lock_key(name)}
        async with self._engine.connect() as connection:
            held = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:space, :key)"), key))
            await connection.commit()  # no transaction stays open while the block runs
            if not held:
                yield False
                return
            try:
                yield True
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:space, :key)"), key)
                await connection.commit()
