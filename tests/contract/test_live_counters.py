"""The LiveCounters port's contract, run against the in-process counters and Redis (on a frozen clock), and,
on Redis, with two adapter instances standing for two API processes that share the counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from adapters.memory.clock import FrozenClock
from adapters.memory.live_counters import InMemoryLiveCounters
from adapters.redis.live_counters import RedisLiveCounters
from application.shared.live import LiveCounters

START = datetime(2026, 3, 14, 23, 59, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def counters(request: pytest.FixtureRequest, clock: FrozenClock) -> LiveCounters:
    if request.param == "memory":
        return InMemoryLiveCounters(clock)
    client: Redis = request.getfixturevalue("redis_client")
    return RedisLiveCounters(client, clock, prefix=request.getfixturevalue("redis_prefix"))


@pytest.fixture
def process(redis_client: Redis, redis_prefix: str, clock: FrozenClock) -> Callable[[], RedisLiveCounters]:
    """A new "API process": its own adapter on the shared Redis."""
    return lambda: RedisLiveCounters(redis_client, clock, prefix=redis_prefix, heartbeat_ttl_seconds=5)


async def test_nothing_recorded_reads_as_zeros_at_the_clock_s_time(counters: LiveCounters) -> None:
    snapshot = await counters.snapshot()

    assert snapshot.at == START
    assert (snapshot.active_streams, snapshot.messages_last_minute, snapshot.tokens_last_minute) == (0, 0, 0)
    assert (snapshot.errors_last_minute, snapshot.signups_today) == (0, 0)


async def test_open_streams_count_until_they_end(counters: LiveCounters) -> None:
    counters.stream_opened()
    counters.stream_opened()
    assert (await counters.snapshot()).active_streams == 2

    counters.stream_ended()
    assert (await counters.snapshot()).active_streams == 1
    counters.stream_ended()
    counters.stream_ended()  # one end too many never makes the count negative
    assert (await counters.snapshot()).active_streams == 0


async def test_replies_tokens_and_errors_count_for_one_minute(counters: LiveCounters, clock: FrozenClock) -> None:
    counters.reply_recorded(120)
    clock.advance(timedelta(seconds=30))
    counters.reply_recorded(80)
    counters.reply_recorded(0)
    counters.error()

    snapshot = await counters.snapshot()
    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute, snapshot.errors_last_minute) == (3, 200, 1)

    clock.advance(timedelta(seconds=30))  # the first reply is now 60 s old: out of the last minute
    snapshot = await counters.snapshot()
    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute, snapshot.errors_last_minute) == (2, 80, 1)

    clock.advance(timedelta(seconds=30))
    snapshot = await counters.snapshot()
    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute, snapshot.errors_last_minute) == (0, 0, 0)


async def test_signups_count_for_the_utc_day(counters: LiveCounters, clock: FrozenClock) -> None:
    counters.signed_up()
    counters.signed_up()
    assert (await counters.snapshot()).signups_today == 2

    clock.advance(timedelta(minutes=1))  # midnight UTC
    counters.signed_up()
    assert (await counters.snapshot()).signups_today == 1


async def test_a_snapshot_sees_what_was_recorded_before_it_whenever_it_was_flushed(
    counters: LiveCounters, clock: FrozenClock
) -> None:
    counters.reply_recorded(10)
    await counters.flush()
    clock.advance(timedelta(seconds=59))
    counters.reply_recorded(5)  # not flushed yet: the snapshot counts it anyway

    snapshot = await counters.snapshot()

    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute) == (2, 15)


@pytest.mark.redis
async def test_two_processes_add_up(process: Callable[[], RedisLiveCounters]) -> None:
    first, second = process(), process()
    first.stream_opened()
    second.stream_opened()
    second.stream_opened()
    first.reply_recorded(100)
    second.reply_recorded(50)
    second.error()
    first.signed_up()
    second.signed_up()
    await first.flush()
    await second.flush()

    for reader in (first, second, process()):
        snapshot = await reader.snapshot()
        assert snapshot.active_streams == 3
        assert (snapshot.messages_last_minute, snapshot.tokens_last_minute, snapshot.errors_last_minute) == (2, 150, 1)
        assert snapshot.signups_today == 2


@pytest.mark.redis
async def test_a_crashed_process_s_streams_stop_counting_and_its_counts_stay(
    process: Callable[[], RedisLiveCounters], clock: FrozenClock
) -> None:
    crashed, alive = process(), process()
    crashed.stream_opened()
    crashed.reply_recorded(40)
    alive.stream_opened()
    await crashed.flush()
    await alive.flush()
    assert (await alive.snapshot()).active_streams == 2

    clock.advance(timedelta(seconds=4))
    await alive.flush()  # the live process keeps beating; the crashed one never flushes again
    assert (await alive.snapshot()).active_streams == 2
    clock.advance(timedelta(seconds=2))

    snapshot = await alive.snapshot()
    assert snapshot.active_streams == 1
    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute) == (1, 40)


@pytest.mark.redis
async def test_a_process_that_stops_takes_its_streams_out_at_once(process: Callable[[], RedisLiveCounters]) -> None:
    stopping, staying = process(), process()
    stopping.stream_opened()
    stopping.reply_recorded(7)
    staying.stream_opened()

    await stopping.aclose()

    snapshot = await staying.snapshot()
    assert (snapshot.active_streams, snapshot.messages_last_minute, snapshot.tokens_last_minute) == (1, 1, 7)


@pytest.mark.redis
async def test_counts_of_a_flush_that_failed_go_out_with_the_next(
    redis_client: Redis, redis_prefix: str, clock: FrozenClock, unreachable_redis_client: Redis
) -> None:
    broken = RedisLiveCounters(unreachable_redis_client, clock, prefix=redis_prefix)
    broken.reply_recorded(9)
    with pytest.raises(Exception):  # noqa: B017 - Redis is down: whatever redis-py raises
        await broken.flush()
    broken._client = redis_client
    await broken.flush()

    reader = RedisLiveCounters(redis_client, clock, prefix=redis_prefix)
    assert (await reader.snapshot()).tokens_last_minute == 9
