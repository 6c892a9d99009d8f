from __future__ import annotations

import math
import time
from collections import deque

from application.shared.ports import RateLimitDecision


class InMemoryRateLimiter:
    """Sliding-window log per key, for one process (the embedded default and unit tests)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateLimitDecision:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        remaining = limit - len(hits)
        # The age first: `hits[0] + window - now` can round to just above the window (a reset one second late).
        reset = math.ceil(window_seconds - (now - hits[0])) if hits else 0
        return RateLimitDecision(allowed=allowed, limit=limit, remaining=remaining, reset_seconds=reset)
