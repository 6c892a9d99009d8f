"""Revoked accounts, as every process sees them: a marker in the shared Cache that identity sets when an admin
disables an account (and clears when they enable it again), and conversation reads, every few seconds, from each
reply it is streaming, to end a disabled user's open streams. The key is the contract between the two contexts.

The database stays the truth (a disabled account's every request is refused at authentication); the marker only
reaches the streams already open, which authenticated before. A cache that cannot be reached loses nothing but
that: the streams then end on their own."""

from __future__ import annotations

import logging
from uuid import UUID

from application.shared.ports import Cache

log = logging.getLogger("parley.revocation")
MARKER_TTL_SECONDS = 24 * 3600
"""Longer than any reply streams (a reply's quota hold lapses after an hour by default)."""


class AccountRevocations:
    def __init__(self, cache: Cache, ttl_seconds: int = MARKER_TTL_SECONDS) -> None:
        self._cache = cache
        self._ttl = ttl_seconds

    async def revoke(self, user_id: UUID) -> None:
        try:
            await self._cache.set(_key(user_id), b"1", self._ttl)
        except Exception:
            log.warning("revocation.not_shared", extra={"user_id": str(user_id)}, exc_info=True)

    async def restore(self, user_id: UUID) -> None:
        try:
            await self._cache.delete(_key(user_id))
        except Exception:
            log.warning("revocation.not_cleared", extra={"user_id": str(user_id)}, exc_info=True)

    async def is_revoked(self, user_id: UUID) -> bool:
        try:
            return await self._cache.get(_key(user_id)) is not None
        except Exception:  # a cache outage must not cut every stream short
            return False


def _key(user_id: UUID) -> str:
    return f"revoked-account:{user_id}"
