"""The RateLimiter port's contract, run against the in-process limiter and Redis so the fake cannot drift.

Redis must also hold the limit when many clients in several OS processes hit one key at once."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from contextlib import AsyncExitStack
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
from redis.asyncio import Redis

from adapters.memory.rate_limiter import InMemoryRateLimiter
from adapters.redis.client import create_redis
from adapters.redis.rate_limiter import RedisRateLimiter
from application.shared.ports import RateLimitDecision, RateLimiter

POLL_SECONDS = 0.05
CROSS_PROCESS_TIMEOUT_SECONDS = 60.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return InMemoryRateLimiter()
    return RedisRateLimiter(request.getfixturevalue("redis_client"), prefix=request.getfixturevalue("redis_prefix"))


async def hit_until_allowed(
    limiter: RateLimiter, key: str, limit: int, window_seconds: int, deadline_seconds: float
) -> tuple[RateLimitDecision, float]:
    """Keep hitting (refused hits do not count) until one is allowed; the decision and the seconds it took."""
    started = time.monotonic()
    while not (decision := await limiter.hit(key, limit, window_seconds)).allowed:
        elapsed = time.monotonic() - started
        assert elapsed < deadline_seconds, f"still refused after {elapsed:.2f} s"
        await asyncio.sleep(POLL_SECONDS)
    return decision, time.monotonic() - started


async def test_a_limit_of_n_allows_exactly_n_then_refuses(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("user:1", 5, 60) for _ in range(7)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    refused = decisions[-1]
    assert (refused.limit, refused.remaining) == (5, 0)
    assert refused.retry_after >= 1
    assert 59 <= refused.reset_seconds <= 60


async def test_remaining_counts_down_and_reset_is_the_window(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("user:1", 3, 60) for _ in range(3)]

    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert [d.limit for d in decisions] == [3, 3, 3]
    assert decisions[0].reset_seconds == 60


async def test_separate_keys_are_limited_separately(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("login:alice", 2, 60)

    other = await limiter.hit("login:bob", 2, 60)

    assert (other.allowed, other.remaining) == (True, 1)


async def test_refused_hits_do_not_extend_the_window(limiter: RateLimiter) -> None:
    assert (await limiter.hit("user:1", 1, 1)).allowed

    # Refused hits every 50 ms: if they counted, the window would never reopen.
    _, waited = await hit_until_allowed(limiter, "user:1", 1, 1, deadline_seconds=1.6)

    assert waited >= 0.8, "the window reopened before it had passed"


async def test_the_whole_limit_is_free_again_once_the_window_passes(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("user:1", 3, 1)
    assert not (await limiter.hit("user:1", 3, 1)).allowed

    reopened, _ = await hit_until_allowed(limiter, "user:1", 3, 1, deadline_seconds=2.0)

    assert (reopened.remaining, reopened.reset_seconds) == (2, 1)
    assert [(await limiter.hit("user:1", 3, 1)).allowed for _ in range(3)] == [True, True, False]


@pytest.mark.redis
async def test_redis_keeps_nothing_once_a_window_has_passed(redis_client: Redis, redis_prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=redis_prefix)
    await limiter.hit("user:1", 5, 1)
    assert await redis_client.exists(f"{redis_prefix}user:1") == 1

    started = time.monotonic()
    while await redis_client.exists(f"{redis_prefix}user:1"):
        assert time.monotonic() - started < 2.5, "the rate-limit key outlived its window"
        await asyncio.sleep(POLL_SECONDS)


@pytest.mark.redis
async def test_redis_allows_exactly_the_limit_to_concurrent_clients(redis_url: str, redis_prefix: str) -> None:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(create_redis(redis_url)) for _ in range(4)]
        limiters = [RedisRateLimiter(client, prefix=redis_prefix) for client in clients]

        decisions = await asyncio.gather(*(limiters[i % 4].hit("chat:1", 50, 60) for i in range(200)))

    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 50
    assert sorted(d.remaining for d in allowed) == list(range(50)), "two hits saw the same count"


@pytest.mark.redis
async def test_redis_allows_exactly_the_limit_across_os_processes(redis_url: str, redis_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    everyone_ready = context.Barrier(3)
    results: Queue[list[int]] = context.Queue()
    processes = [
        context.Process(target=hit_from_another_process, args=(redis_url, redis_prefix, 60, everyone_ready, results))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        here = await hit_concurrently(redis_url, redis_prefix, 80, everyone_ready)
        there = [await asyncio.to_thread(results.get, timeout=CROSS_PROCESS_TIMEOUT_SECONDS) for _ in processes]
    finally:
        for process in processes:
            await asyncio.to_thread(process.join, CROSS_PROCESS_TIMEOUT_SECONDS)
            process.kill()

    remaining = here + there[0] + there[1]
    assert sorted(remaining) == list(range(50)), f"{len(remaining)} of 200 hits allowed on a limit of 50"


async def hit_concurrently(url: str, prefix: str, hits: int, everyone_ready: Barrier) -> list[int]:
    """Fire `hits` hits at once from two clients, after every process is connected; `remaining` of the allowed."""
    async with create_redis(url) as first, create_redis(url) as second:
        limiters = [RedisRateLimiter(first, prefix=prefix), RedisRateLimiter(second, prefix=prefix)]
        await asyncio.gather(first.ping(), second.ping())
        await asyncio.to_thread(everyone_ready.wait, CROSS_PROCESS_TIMEOUT_SECONDS)
        decisions = await asyncio.gather(*(limiters[i % 2].hit("chat:1", 50, 60) for i in range(hits)))
    return [d.remaining for d in decisions if d.allowed]


def hit_from_another_process(
    url: str, prefix: str, hits: int, everyone_ready: Barrier, results: Queue[list[int]]
) -> None:
    """The child process's body (a module-level function, so a spawned interpreter can import it)."""
    results.put(asyncio.run(hit_concurrently(url, prefix, hits, everyone_ready)))
