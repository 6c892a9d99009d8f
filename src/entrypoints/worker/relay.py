"""The outbox relay loop: publishes committed jobs to the broker, forever, until stopped. A broker that is
down only delays jobs: they stay in the outbox and the loop backs off and tries again."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from application.shared.jobs import RelayOutbox

log = logging.getLogger("parley.outbox")
MAX_BACKOFF_SECONDS = 30.0


class OutboxRelayLoop:
    def __init__(self, relay: RelayOutbox, interval_seconds: float = 1.0) -> None:
        self._relay = relay
        self._interval = interval_seconds
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        delay = self._interval
        while not self._stop.is_set():
            try:
                published = await self._relay()
                delay = self._interval
                if published:
                    log.debug("outbox.published", extra={"count": published})
                    continue
            except Exception as exc:
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                log.warning("outbox.relay_failed", extra={"error": type(exc).__name__, "retry_in": delay})
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
