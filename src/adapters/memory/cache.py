from __future__ import annotations

import time


class InMemoryCache:
    """Process-local key/value store with expiry (monotonic clock)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        return item[1]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._items[key] = (time.monotonic() + ttl_seconds, value)
        if len(self._items) > 10_000:
            self._evict_expired()

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def ping(self) -> bool:
        return True

    def _evict_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._items.items() if expires <= now]:
            del self._items[key]
