"""The live counters in one process (the embedded default, and unit tests): per-second buckets of the last
minute, a count of open streams and the day's sign-ups, all in memory. Nothing is shared, so `flush` has
nothing to do."""

from __future__ import annotations

from datetime import date

from application.shared.live import WINDOW_SECONDS, LiveSnapshot
from domain.shared.clock import Clock


class InMemoryLiveCounters:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._active = 0
        self._seconds: dict[int, list[int]] = {}
        """Second (Unix time) -> [messages, tokens, errors] recorded in it."""
        self._signups: dict[date, int] = {}

    def stream_opened(self) -> None:
        self._active += 1

    def stream_ended(self) -> None:
        self._active = max(0, self._active - 1)

    def reply_recorded(self, tokens: int) -> None:
        bucket = self._bucket()
        bucket[0] += 1
        bucket[1] += max(0, tokens)

    def error(self) -> None:
        self._bucket()[2] += 1

    def signed_up(self) -> None:
        today = self._clock.now().date()
        self._signups[today] = self._signups.get(today, 0) + 1

    async def flush(self) -> None:
        pass

    async def snapshot(self) -> LiveSnapshot:
        now = self._clock.now()
        second = int(now.timestamp())
        self._prune(second)
        recent = [counts for at, counts in self._seconds.items() if at > second - WINDOW_SECONDS]
        return LiveSnapshot(
            at=now,
            active_streams=self._active,
            messages_last_minute=sum(counts[0] for counts in recent),
            tokens_last_minute=sum(counts[1] for counts in recent),
            errors_last_minute=sum(counts[2] for counts in recent),
            signups_today=self._signups.get(now.date(), 0),
        )

    async def aclose(self) -> None:
        pass

    def _bucket(self) -> list[int]:
        second = int(self._clock.now().timestamp())
        bucket = self._seconds.get(second)
        if bucket is None:
            self._prune(second)
            bucket = self._seconds[second] = [0, 0, 0]
        return bucket

    def _prune(self, second: int) -> None:
        for at in [at for at in self._seconds if at <= second - WINDOW_SECONDS]:
            del self._seconds[at]
        today = self._clock.now().date()
        for day in [day for day in self._signups if day < today]:
            del self._signups[day]
