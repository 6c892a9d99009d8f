"""The StreamLog port for one process: the embedded default and unit tests.

Followers wait on an asyncio.Event that each append sets and replaces, so a resumed stream gets new
events the moment they are logged, without polling. Same rules as the Redis log (the contract suite
runs both): event ids are non-negative and increase, a log lives `ttl_seconds` after its last append."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from application.conversation.ports import LoggedEvent, UnknownStream


@dataclass(slots=True)
class _Log:
    expires_at: float
    events: list[LoggedEvent] = field(default_factory=list)
    final_id: int | None = None
    appended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the next append, then replaced: a follower holding it learns that something was added."""


class InMemoryStreamLog:
    """`clock` (seconds, monotonic) is injectable so tests can make logs expire without waiting."""

    def __init__(self, ttl_seconds: float = 300, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._logs: dict[str, _Log] = {}

    async def append(self, stream_id: str, event: LoggedEvent, *, final: bool = False) -> None:
        if event.id < 0:
            raise ValueError(f"event ids must not be negative, got {event.id}")
        now = self._clock()
        log = self._live(stream_id)
        if log is None:
            self._forget_expired(now)
            log = self._logs[stream_id] = _Log(expires_at=now)
        elif log.events and event.id <= log.events[-1].id:
            raise ValueError(f"event ids must increase: {event.id} after {log.events[-1].id} in {stream_id}")
        log.events.append(event)
        if final:
            log.final_id = event.id
        log.expires_at = now + self._ttl
        log.appended.set()
        log.appended = asyncio.Event()

    async def follow(self, stream_id: str, after_id: int) -> AsyncIterator[LoggedEvent]:
        log = self._live(stream_id)
        if log is None:
            raise UnknownStream(stream_id)
        position = bisect_right(log.events, after_id, key=lambda e: e.id)
        while True:
            appended = log.appended  # taken before reading, so an append during a yield is not missed
            while position < len(log.events):
                event = log.events[position]
                position += 1
                yield event
                if event.id == log.final_id:
                    return
            if self._live(stream_id) is not log:
                return
            try:
                await asyncio.wait_for(appended.wait(), timeout=log.expires_at - self._clock())
            except TimeoutError:
                continue  # the log may have expired: checked above on the next turn

    async def exists(self, stream_id: str) -> bool:
        return self._live(stream_id) is not None

    def _live(self, stream_id: str) -> _Log | None:
        log = self._logs.get(stream_id)
        return log if log is not None and log.expires_at > self._clock() else None

    def _forget_expired(self, now: float) -> None:
        """Runs when a log is created (once per reply), so memory stays bounded by the live logs."""
        for stream_id in [s for s, log in self._logs.items() if log.expires_at <= now]:
            del self._logs[stream_id]
