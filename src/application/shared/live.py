"""The live counters an admin watches (WebSocket /api/analytics/live): replies streaming now, messages,
tokens and errors in the last minute, sign-ups today. Every context feeds them, so the port lives here.

Recording is synchronous and in-process (a few additions, never a round trip): the chat path calls it, and
a reply must not wait on it. `flush` hands what this process recorded to the shared store (the Redis adapter
does that in one pipeline; a loop calls it about every second), and refreshes this process's heartbeat, so
the streams of a process that died stop counting within a few seconds. `snapshot` reads the totals across
every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

WINDOW_SECONDS = 60
""""The last minute": the 60 whole seconds up to and including the current one."""


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    at: datetime
    active_streams: int
    messages_last_minute: int
    tokens_last_minute: int
    errors_last_minute: int
    signups_today: int
    """Sign-ups since midnight UTC."""


class LiveCounters(Protocol):
    def stream_opened(self) -> None:
        """A provider started streaming a reply."""
        ...

    def stream_ended(self) -> None:
        """That reply ended (finished, failed, or abandoned by its client)."""
        ...

    def reply_recorded(self, tokens: int) -> None:
        """A reply was stored: one message, and the tokens it cost (0 for one answered from the cache)."""
        ...

    def error(self) -> None:
        """A chat request failed on the provider's side (no provider answering, or one failing mid-reply)."""
        ...

    def signed_up(self) -> None:
        """A new account was created."""
        ...

    async def flush(self) -> None:
        """Hand this process's recordings to the shared store and refresh its heartbeat (nothing in-process)."""
        ...

    async def snapshot(self) -> LiveSnapshot:
        """The counters across every live process, as of now."""
        ...

    async def aclose(self) -> None:
        """This process is stopping: flush, and take its streams out of the count."""
        ...


class NoLiveCounters:
    """Counts nothing (for use cases built without a live feed, e.g. in unit tests that do not look at it)."""

    def stream_opened(self) -> None:
        pass

    def stream_ended(self) -> None:
        pass

    def reply_recorded(self, tokens: int) -> None:
        pass

    def error(self) -> None:
        pass

    def signed_up(self) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def snapshot(self) -> LiveSnapshot:
        return LiveSnapshot(datetime.now(UTC), 0, 0, 0, 0, 0)

    async def aclose(self) -> None:
        pass
