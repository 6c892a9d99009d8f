"""Background loops: the outbox relay (publishes committed jobs; a broker that is down only delays them,
they stay in the outbox while the loop backs off), the billing cycle (closes ended periods) and the analytics
export (facts to Parquet, then the retention; one runner at a time across every process, by its lock). Each
runs a step that returns how much it did: it runs again at once while there is work, else waits its
interval. A loop may wait before its first step (`start_delay_seconds`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("parley.loops")
MAX_BACKOFF_SECONDS = 30.0


class RepeatingTask:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[int]],
        interval_seconds: float = 1.0,
        *,
        start_delay_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self._step = step
        self._interval = interval_seconds
        self._start_delay = start_delay_seconds
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        delay = self._interval
        if self._start_delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._start_delay)
        while not self._stop.is_set():
            try:
                done = await self._step()
                delay = self._interval
                if done:
                    log.debug("loop.step", extra={"loop": self.name, "count": done})
                    continue
            except Exception as exc:
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                log.warning(
                    "loop.step_failed", extra={"loop": self.name, "error": type(exc).__name__, "retry_in": delay}
                )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
