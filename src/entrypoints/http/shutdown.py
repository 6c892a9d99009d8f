"""Graceful shutdown with open streams. On SIGTERM (or SIGINT) the process starts draining at once:
/ready answers 503 so the load balancer stops sending traffic, and every open reply stream ends with a final
event (what was written so far is kept and charged) instead of being cut when the server's grace period
runs out. The server's own signal handler still runs afterwards, so it stops accepting connections and waits
(bounded by its graceful-shutdown timeout) for the streams to finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

log = logging.getLogger("parley.app")


class Drain:
    def __init__(self) -> None:
        self.started = False

    def begin(self) -> None:
        if not self.started:
            self.started = True
            log.info("app.draining")


@contextlib.contextmanager
def drain_on_signals(drain: Drain) -> Iterator[None]:
    """Chain our handler in front of the server's for SIGTERM and SIGINT (main thread only: elsewhere, such as
    in tests driving the app in-process, there are no signals to take)."""
    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            former = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, former: Any = former) -> None:
                loop.call_soon_threadsafe(drain.begin)
                if callable(former):
                    former(signum, frame)

            previous[sig] = former
            signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, restored in previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(signum, restored)
