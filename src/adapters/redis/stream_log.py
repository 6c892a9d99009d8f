"""The StreamLog port on Redis Streams: a reply's SSE events, resumable from any API process.

One Redis stream per reply, under `<prefix><stream id>`. Our event id n is the entry id `n-1` (sequence 1,
because Redis reserves `0-0` and a reply's first event may be id 0), so "every event after n" is exactly
Redis' "every entry after n-1" and needs no scan. Each entry holds the event name, its data and a `final`
flag. Appending is one Lua script: XADD, then EXPIRE, so the log lives `ttl_seconds` after the last event.

A follower loops on XREAD BLOCK with a bounded block time: each call holds a pool connection only that
long and stays under the client's socket timeout (two seconds, see client.py), and between blocks the
follower notices a log that expired without a final event. Redis errors propagate as
`redis.exceptions.RedisError`, like the other Redis adapters (the HTTP layer answers 503)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from redis.asyncio import Redis

from application.conversation.ports import LoggedEvent, UnknownStream

# KEYS[1]: the stream. ARGV: entry id, event, data, final (0/1), ttl in seconds.
# Returns 1, or the error text when XADD refused the entry (an id not above the last one).
APPEND = """
local added = redis.pcall('XADD', KEYS[1], ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'final', ARGV[4])
if type(added) == 'table' and added.err then
  return added.err
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

READ_BATCH = 100
"""Entries per XREAD: enough that catching up on a long reply takes few round trips."""


class RedisStreamLog:
    """`block_ms` must stay below the client's socket timeout, or an idle follow would time out."""

    def __init__(
        self, client: Redis, prefix: str = "parley:stream:", ttl_seconds: int = 300, block_ms: int = 1000
    ) -> None:
        if block_ms <= 0:
            raise ValueError("block_ms must be positive: 0 would make XREAD block forever")
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._block_ms = block_ms
        self._append = client.register_script(APPEND)

    async def append(self, stream_id: str, event: LoggedEvent, *, final: bool = False) -> None:
        if event.id < 0:
            raise ValueError(f"event ids must not be negative, got {event.id}")
        outcome = await self._append(
            keys=[self._prefix + stream_id],
            args=[f"{event.id}-1", event.event, event.data, int(final), self._ttl],
        )
        if outcome != 1:
            raise ValueError(f"cannot append event {event.id} to {stream_id}: {outcome!r}")

    async def follow(self, stream_id: str, after_id: int) -> AsyncIterator[LoggedEvent]:
        key = self._prefix + stream_id
        if not await self._client.exists(key):
            raise UnknownStream(stream_id)
        last_entry = f"{after_id}-1" if after_id >= 0 else "0-0"
        while True:
            # create_redis's client speaks RESP2: [[key, [(entry id, {field: value}), ...]]], or [] on timeout.
            reply = cast(
                list[list[object]], await self._client.xread({key: last_entry}, count=READ_BATCH, block=self._block_ms)
            )
            if not reply:
                if not await self._client.exists(key):
                    return
                continue
            for entry_id, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], reply[0][1]):
                last_entry = entry_id.decode()
                yield LoggedEvent(
                    id=int(last_entry.partition("-")[0]),
                    event=fields[b"event"].decode(),
                    data=fields[b"data"].decode(),
                )
                if fields[b"final"] == b"1":
                    return

    async def exists(self, stream_id: str) -> bool:
        return bool(await self._client.exists(self._prefix + stream_id))
