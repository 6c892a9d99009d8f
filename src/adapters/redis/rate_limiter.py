"""The RateLimiter port on Redis: a sliding-window log that holds across every process sharing the server.

The whole decision (prune, count, record, expire, report) is one Lua script, so it is atomic on the server
and costs one round trip. Time comes from the Redis server's TIME, not the caller's clock, so API processes
on machines whose clocks disagree still share one window. Scores are milliseconds: Lua numbers are doubles
printed with 14 significant digits, which keeps a 13-digit millisecond timestamp exact (microseconds would not)."""

from __future__ import annotations

from uuid import uuid4

from redis.asyncio import Redis

from application.shared.ports import RateLimitDecision

# KEYS[1]: sorted set of counted hits (member: a unique id, score: server time in ms).
# ARGV: limit, window in ms, the member to add if this hit is allowed.
# Returns {allowed (0/1), remaining, seconds until the oldest counted hit leaves the window (0 if none)}.
SLIDING_WINDOW_LOG = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window_ms)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now_ms, ARGV[3])
  redis.call('PEXPIRE', key, window_ms)
  count = count + 1
  allowed = 1
end
local reset = 0
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = math.ceil((tonumber(oldest[2]) + window_ms - now_ms) / 1000)
end
return {allowed, limit - count, reset}
"""


class RedisRateLimiter:
    """A hit is counted only when allowed, so a client hammering a closed window does not keep it closed.

    The key expires with its window, so idle keys cost Redis nothing. Errors propagate as
    `redis.exceptions.RedisError` (the HTTP layer answers 503: a limit that cannot be checked is not waived)."""

    def __init__(self, client: Redis, prefix: str = "parley:rl:") -> None:
        self._prefix = prefix
        self._script = client.register_script(SLIDING_WINDOW_LOG)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateLimitDecision:
        allowed, remaining, reset = await self._script(
            keys=[self._prefix + key], args=[limit, window_seconds * 1000, uuid4().hex]
        )
        return RateLimitDecision(allowed=bool(allowed), limit=limit, remaining=int(remaining), reset_seconds=int(reset))
