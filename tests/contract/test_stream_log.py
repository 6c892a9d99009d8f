"""The StreamLog port's contract, run against the in-process log and Redis so the fake cannot drift.

A reader resumes a reply that a writer is still producing; on Redis the two use separate clients, as
two API processes would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from adapters.memory.clock import FrozenClock
from adapters.memory.stream_log import InMemoryStreamLog
from adapters.redis.client import create_redis
from adapters.redis.stream_log import RedisStreamLog
from application.conversation.ports import LoggedEvent, StreamLog, UnknownStream

TTL_SECONDS = 300
WAIT_SECONDS = 5.0
"""How long a test waits for a follower to receive an event or to stop: far above any normal delay."""

REPLY = [
    LoggedEvent(1, "start", '{"message_id": "m1"}'),
    LoggedEvent(2, "delta", '{"text": "Hel"}'),
    LoggedEvent(3, "delta", '{"text": "lo"}'),
    LoggedEvent(4, "delta", '{"text": "!"}'),
    LoggedEvent(5, "done", '{"usage": {"total_tokens": 7}}'),
]


@dataclass(frozen=True)
class Logs:
    """A writer and a reader on one store, and a way to let time pass for a log on that store."""

    writer: StreamLog
    reader: StreamLog
    age: Callable[[str, float], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_logs(request: pytest.FixtureRequest) -> Callable[[int], Logs]:
    """Builds Logs whose logs live `ttl_seconds` after their last append."""
    if request.param == "memory":
        clock = FrozenClock()

        async def advance(_: str, seconds: float) -> None:
            clock.advance(timedelta(seconds=seconds))

        def memory_logs(ttl_seconds: int) -> Logs:
            log = InMemoryStreamLog(ttl_seconds=ttl_seconds, clock=lambda: clock.now().timestamp())
            return Logs(log, log, advance)

        return memory_logs

    writer_client: Redis = request.getfixturevalue("redis_client")
    reader_client: Redis = request.getfixturevalue("second_redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")

    async def shorten_ttl(stream_id: str, seconds: float) -> None:
        """Time passing, as far as expiry goes: the key's remaining life shrinks (to nothing: it is deleted)."""
        key = prefix + stream_id
        remaining_ms = await writer_client.pttl(key)
        await writer_client.pexpire(key, remaining_ms - round(seconds * 1000))

    def redis_logs(ttl_seconds: int) -> Logs:
        return Logs(
            RedisStreamLog(writer_client, prefix=prefix, ttl_seconds=ttl_seconds, block_ms=200),
            RedisStreamLog(reader_client, prefix=prefix, ttl_seconds=ttl_seconds, block_ms=200),
            shorten_ttl,
        )

    return redis_logs


@pytest.fixture
async def second_redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """Another client with its own pool: the reader, as a second API process would be."""
    async with create_redis(redis_url) as client:
        yield client


@pytest.fixture
def logs(make_logs: Callable[[int], Logs]) -> Logs:
    return make_logs(TTL_SECONDS)


async def append_reply(log: StreamLog, stream_id: str) -> None:
    for event in REPLY:
        await log.append(stream_id, event, final=event.event == "done")


async def collect(log: StreamLog, stream_id: str, after_id: int) -> list[LoggedEvent]:
    return [event async for event in log.follow(stream_id, after_id)]


async def test_a_finished_reply_comes_back_in_order_and_ends(logs: Logs) -> None:
    await append_reply(logs.writer, "s1")

    replayed = await asyncio.wait_for(collect(logs.reader, "s1", 0), WAIT_SECONDS)

    assert replayed == REPLY


async def test_resuming_from_the_middle_sends_only_later_events(logs: Logs) -> None:
    await append_reply(logs.writer, "s1")

    replayed = await asyncio.wait_for(collect(logs.reader, "s1", 3), WAIT_SECONDS)

    assert [event.id for event in replayed] == [4, 5]


async def test_an_event_with_id_zero_can_be_logged_and_resumed(logs: Logs) -> None:
    await logs.writer.append("s1", LoggedEvent(0, "start", "{}"))
    await logs.writer.append("s1", LoggedEvent(1, "done", "{}"), final=True)

    assert [e.id for e in await asyncio.wait_for(collect(logs.reader, "s1", -1), WAIT_SECONDS)] == [0, 1]
    assert [e.id for e in await asyncio.wait_for(collect(logs.reader, "s1", 0), WAIT_SECONDS)] == [1]


async def test_a_follower_receives_events_as_they_are_appended_and_stops_after_the_final_one(logs: Logs) -> None:
    received: asyncio.Queue[LoggedEvent] = asyncio.Queue()

    async def follow() -> None:
        async for event in logs.reader.follow("s1", 0):
            received.put_nowait(event)

    await logs.writer.append("s1", REPLY[0])
    follower = asyncio.create_task(follow())
    try:
        assert await asyncio.wait_for(received.get(), WAIT_SECONDS) == REPLY[0]
        for event in REPLY[1:-1]:
            await logs.writer.append("s1", event)
            assert await asyncio.wait_for(received.get(), WAIT_SECONDS) == event
        await logs.writer.append("s1", REPLY[-1], final=True)

        await asyncio.wait_for(follower, WAIT_SECONDS)
    finally:
        follower.cancel()

    assert received.get_nowait() == REPLY[-1]
    assert received.empty()


async def test_events_after_the_final_one_are_not_followed(logs: Logs) -> None:
    await append_reply(logs.writer, "s1")
    await logs.writer.append("s1", LoggedEvent(6, "delta", "{}"))

    assert await asyncio.wait_for(collect(logs.reader, "s1", 0), WAIT_SECONDS) == REPLY


async def test_following_an_unknown_stream_fails_at_once(logs: Logs) -> None:
    started = time.monotonic()

    with pytest.raises(UnknownStream):
        await collect(logs.reader, "never-logged", 0)

    assert time.monotonic() - started < 1.0
    assert await logs.reader.exists("never-logged") is False


async def test_a_log_exists_once_something_is_appended(logs: Logs) -> None:
    await logs.writer.append("s1", REPLY[0])

    assert await logs.reader.exists("s1") is True


async def test_event_ids_must_increase(logs: Logs) -> None:
    await logs.writer.append("s1", REPLY[0])
    await logs.writer.append("s1", REPLY[1])

    for stale in (REPLY[1], REPLY[0], LoggedEvent(-1, "delta", "{}")):
        with pytest.raises(ValueError):
            await logs.writer.append("s1", stale)
    await logs.writer.append("s1", REPLY[2], final=True)

    assert await asyncio.wait_for(collect(logs.reader, "s1", 0), WAIT_SECONDS) == REPLY[:3]


async def test_a_log_lives_its_ttl_after_the_last_append(logs: Logs) -> None:
    await logs.writer.append("s1", REPLY[0])
    await logs.age("s1", TTL_SECONDS - 1)
    await logs.writer.append("s1", REPLY[1])
    await logs.age("s1", TTL_SECONDS - 1)

    assert await logs.reader.exists("s1") is True

    await logs.age("s1", 1)

    assert await logs.reader.exists("s1") is False
    with pytest.raises(UnknownStream):
        await collect(logs.reader, "s1", 0)


async def test_a_follower_stops_when_the_log_expires_without_a_final_event(make_logs: Callable[[int], Logs]) -> None:
    logs = make_logs(1)
    await logs.writer.append("s1", REPLY[0])
    follower = logs.reader.follow("s1", 0)
    assert await asyncio.wait_for(anext(follower), WAIT_SECONDS) == REPLY[0]

    await logs.age("s1", 1)

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(follower), WAIT_SECONDS)


async def test_logs_are_kept_per_stream(logs: Logs) -> None:
    await append_reply(logs.writer, "s1")
    await logs.writer.append("s2", LoggedEvent(1, "error", "{}"), final=True)

    assert await asyncio.wait_for(collect(logs.reader, "s2", 0), WAIT_SECONDS) == [LoggedEvent(1, "error", "{}")]
    assert await asyncio.wait_for(collect(logs.reader, "s1", 0), WAIT_SECONDS) == REPLY
