"""The live counters on Redis, right across every API process sharing the server.

Recording only adds to this process's buffer (no round trip on the chat path). `flush` (a loop calls it about
every second, and `snapshot` first) sends the buffer in one MULTI/EXEC pipeline:
- per-second buckets: a hash per second (`{prefix}s:{unix second}`, fields m / t / e for messages, tokens and
  errors) incremented with HINCRBY and expiring after two minutes; each event lands in the second it happened,
  however late it is flushed;
- sign-ups: a counter per UTC day (`{prefix}signups:{YYYY-MM-DD}`, INCRBY), expiring after two days;
- open streams: this process's count in a hash (`{prefix}streams`, field: the process id) and its heartbeat in
  a sorted set (`{prefix}processes`, score: the time of the flush).

`snapshot` is one Lua script: it drops the processes whose heartbeat is older than `heartbeat_ttl_seconds` (a
crashed process's streams stop counting then), sums the open streams of the others, the last 60 buckets and
today's sign-ups. Times come from the injected clock: the API processes' clocks must agree to within a second
or so (NTP), as they must for the tokens they issue anyway. A flush that fails (Redis blinked) keeps its counts
for the next one; a snapshot that fails raises RedisError."""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.shared.live import WINDOW_SECONDS, LiveSnapshot
from domain.shared.clock import Clock

log = logging.getLogger("parley.live")
BUCKET_TTL_SECONDS = 2 * WINDOW_SECONDS
SIGNUPS_TTL_SECONDS = 2 * 24 * 3600
PROCESSES_TTL_SECONDS = 24 * 3600
HEARTBEAT_TTL_SECONDS = 5.0

# KEYS[1]: the heartbeats (sorted set), KEYS[2]: open streams per process (hash), KEYS[3]: today's sign-ups,
# KEYS[4..]: the per-second buckets of the last minute. ARGV[1]: the oldest heartbeat still alive.
# Returns {active streams, messages, tokens, errors, sign-ups}.
SNAPSHOT = """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
local active = 0
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if #alive > 0 then
  for _, count in ipairs(redis.call('HMGET', KEYS[2], unpack(alive))) do
    if count then active = active + tonumber(count) end
  end
end
local messages, tokens, errors = 0, 0, 0
for index = 4, #KEYS do
  local bucket = redis.call('HMGET', KEYS[index], 'm', 't', 'e')
  messages = messages + (tonumber(bucket[1]) or 0)
  tokens = tokens + (tonumber(bucket[2]) or 0)
  errors = errors + (tonumber(bucket[3]) or 0)
end
local signups = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
return {active, messages, tokens, errors, signups}
"""


class RedisLiveCounters:
    def __init__(
        self,
        client: Redis,
        clock: Clock,
        prefix: str = "parley:live:",
        *,
        process_id: str | None = None,
        heartbeat_ttl_seconds: float = HEARTBEAT_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._process = process_id or uuid.uuid4().hex
        self._heartbeat_ttl = heartbeat_ttl_seconds
        self._snapshot = client.register_script(SNAPSHOT)
        self._active = 0
        self._seconds: dict[int, list[int]] = {}
        self._signups: dict[str, int] = {}
        self._closed = False

    # --- recording: in-process only -----------------------------------------------------------------
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
        day = self._clock.now().date().isoformat()
        self._signups[day] = self._signups.get(day, 0) + 1

    # --- the shared store ------------------------------------------------------------------------------
    async def flush(self) -> None:
        seconds, signups = self._seconds, self._signups
        self._seconds, self._signups = {}, {}
        now = self._clock.now().timestamp()
        pipe = self._client.pipeline(transaction=True)
        for second, (messages, tokens, errors) in seconds.items():
            key = f"{self._prefix}s:{second}"
            for name, value in (("m", messages), ("t", tokens), ("e", errors)):
                if value:
                    pipe.hincrby(key, name, value)
            pipe.expire(key, BUCKET_TTL_SECONDS)
        for day, count in signups.items():
            key = f"{self._prefix}signups:{day}"
            pipe.incrby(key, count)
            pipe.expire(key, SIGNUPS_TTL_SECONDS)
        if not self._closed:
            pipe.hset(self._streams_key, self._process, self._active)
            pipe.zadd(self._processes_key, {self._process: now})
            pipe.expire(self._streams_key, PROCESSES_TTL_SECONDS)
            pipe.expire(self._processes_key, PROCESSES_TTL_SECONDS)
        try:
            await pipe.execute()
        except BaseException:
            self._merge_back(seconds, signups)
            raise

    async def snapshot(self) -> LiveSnapshot:
        await self.flush()
        now = self._clock.now()
        second = int(now.timestamp())
        buckets = [f"{self._prefix}s:{at}" for at in range(second - WINDOW_SECONDS + 1, second + 1)]
        keys = [self._processes_key, self._streams_key, f"{self._prefix}signups:{now.date().isoformat()}", *buckets]
        active, messages, tokens, errors, signups = await self._snapshot(
            keys=keys, args=[repr(now.timestamp() - self._heartbeat_ttl)]
        )
        return LiveSnapshot(now, int(active), int(messages), int(tokens), int(errors), int(signups))

    async def aclose(self) -> None:
        """Flush what is left and take this process out of the count."""
        self._closed = True
        try:
            await self.flush()
            pipe = self._client.pipeline(transaction=True)
            pipe.zrem(self._processes_key, self._process)
            pipe.hdel(self._streams_key, self._process)
            await pipe.execute()
        except RedisError as exc:
            log.warning("live.close_failed", extra={"error": type(exc).__name__})

    @property
    def _streams_key(self) -> str:
        return f"{self._prefix}streams"

    @property
    def _processes_key(self) -> str:
        return f"{self._prefix}processes"

    def _bucket(self) -> list[int]:
        second = int(self._clock.now().timestamp())
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = [0, 0, 0]
        return bucket

    def _merge_back(self, seconds: dict[int, list[int]], signups: dict[str, int]) -> None:
        """Counts a failed flush could not send wait for the next one (those older than the window are moot)."""
        oldest = int(self._clock.now().timestamp()) - WINDOW_SECONDS
        for second, counts in seconds.items():
            if second > oldest:
                bucket = self._seconds.setdefault(second, [0, 0, 0])
                for index, value in enumerate(counts):
                    bucket[index] += value
        for day, count in signups.items():
            self._signups[day] = self._signups.get(day, 0) + count
