"""The QuotaLedger port's contract, run against the in-process ledger and Redis so the fake cannot drift.

Redis must also keep a user under the limit when many clients in several OS processes reserve at once
(RELIABILITY Q1), and refuse to meter anything when it cannot be reached (Q4)."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from adapters.memory.clock import FrozenClock
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from adapters.redis.client import create_redis
from adapters.redis.quota_ledger import RedisQuotaLedger
from application.conversation.ports import NeedsBaseline, QuotaLedger, Reservation
from application.shared.allowance import Allowance, GrantedTokens
from domain.conversation.errors import QuotaExceeded, QuotaUnavailable

HOLD_TTL_SECONDS = 1
CROSS_PROCESS_TIMEOUT_SECONDS = 60.0
REFUSED_WITHIN_SECONDS = 1.0
HUNG_WITHIN_SECONDS = 3.0
"""The client's 2 s socket timeout, plus slack."""


@dataclass(frozen=True)
class Backend:
    """Builds ledgers on one store, and lets time pass on that store's clock."""

    build: Callable[[float], QuotaLedger]
    let_time_pass: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        clock = FrozenClock()

        async def advance(seconds: float) -> None:
            clock.advance(timedelta(seconds=seconds))

        return Backend(
            lambda ttl: InMemoryQuotaLedger(hold_ttl_seconds=ttl, clock=lambda: clock.now().timestamp()), advance
        )
    client: Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")
    # Holds lapse on the Redis server's clock: the only way to let that time pass is to wait.
    return Backend(lambda ttl: RedisQuotaLedger(client, prefix=prefix, hold_ttl_seconds=ttl), asyncio.sleep)


@pytest.fixture
def ledger(backend: Backend) -> QuotaLedger:
    return backend.build(600)


def allowance(limit: int = 1000, months_ahead: int = 0) -> Allowance:
    """A period around now (counters outlive their period by a week only), or one `months_ahead` later."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1) + timedelta(days=30 * months_ahead)
    return Allowance(plan="free", limit=limit, period_start=start, period_end=start + timedelta(days=30))


async def test_an_unseeded_period_asks_for_a_baseline(ledger: QuotaLedger) -> None:
    user = uuid4()

    with pytest.raises(NeedsBaseline):
        await ledger.reserve(user, allowance(), 10)
    with pytest.raises(NeedsBaseline):
        await ledger.balance(user, allowance())


async def test_seed_sets_the_baseline_once(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 300)
    await ledger.reserve(user, period, 50)

    await ledger.seed(user, period, 0)

    balance = await ledger.balance(user, period)
    assert (balance.limit, balance.used, balance.reserved, balance.remaining) == (1000, 300, 50, 700)


async def test_reservations_are_allowed_up_to_exactly_the_limit_then_refused(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 400)

    first = await ledger.reserve(user, period, 350)
    second = await ledger.reserve(user, period, 250)
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 1)

    assert (first.amount, second.amount) == (350, 250)
    assert first.id != second.id
    assert (first.user_id, first.period_start) == (user, period.period_start)
    assert (await ledger.balance(user, period)).reserved == 600


async def test_a_refused_reservation_holds_nothing(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 900)

    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 101)

    assert (await ledger.balance(user, period)).reserved == 0
    assert (await ledger.reserve(user, period, 100)).amount == 100


async def test_settle_turns_the_hold_into_the_actual_usage(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 100)
    reservation = await ledger.reserve(user, period, 500)

    assert (await ledger.settle(reservation, 120)).settled is True

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved, balance.remaining) == (220, 0, 780)


async def test_settle_counts_usage_beyond_the_reservation_in_full(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 900)
    reservation = await ledger.reserve(user, period, 100)

    assert (await ledger.settle(reservation, 150)).settled is True

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved, balance.remaining) == (1050, 0, 0)
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 1)


async def test_a_second_settle_changes_nothing(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance()
    await ledger.seed(user, period, 0)
    reservation = await ledger.reserve(user, period, 200)
    await ledger.settle(reservation, 150)

    assert (await ledger.settle(reservation, 150)).settled is False

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved) == (150, 0)


async def test_release_frees_the_hold_and_is_idempotent(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 0)
    reservation = await ledger.reserve(user, period, 1000)

    await ledger.release(reservation)
    await ledger.release(reservation)

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved) == (0, 0)
    assert (await ledger.settle(reservation, 1000)).settled is False, "a released reservation was charged"
    assert (await ledger.reserve(user, period, 1000)).amount == 1000


async def test_a_release_after_settle_refunds_nothing(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance()
    await ledger.seed(user, period, 0)
    reservation = await ledger.reserve(user, period, 200)
    await ledger.settle(reservation, 180)

    await ledger.release(reservation)

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved) == (180, 0)


async def test_holds_lapse_after_their_ttl(backend: Backend) -> None:
    ledger = backend.build(HOLD_TTL_SECONDS)
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 0)
    lapsing = await ledger.reserve(user, period, 1000)

    await backend.let_time_pass(HOLD_TTL_SECONDS / 2)
    assert (await ledger.balance(user, period)).reserved == 1000
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 1)

    await backend.let_time_pass(HOLD_TTL_SECONDS / 2 + 0.1)
    assert (await ledger.settle(lapsing, 1000)).settled is False, "a lapsed hold was charged"
    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved) == (0, 0)
    assert (await ledger.reserve(user, period, 1000)).amount == 1000


async def test_each_period_needs_its_own_baseline(ledger: QuotaLedger) -> None:
    user, current, following = uuid4(), allowance(limit=1000), allowance(limit=1000, months_ahead=1)
    await ledger.seed(user, current, 1000)

    with pytest.raises(NeedsBaseline):
        await ledger.reserve(user, following, 10)
    await ledger.seed(user, following, 0)

    assert (await ledger.reserve(user, following, 1000)).amount == 1000
    assert (await ledger.balance(user, current)).used == 1000


async def test_users_are_metered_separately(ledger: QuotaLedger) -> None:
    period, alice, bob = allowance(limit=100), uuid4(), uuid4()
    await ledger.seed(alice, period, 100)
    await ledger.seed(bob, period, 0)

    assert (await ledger.reserve(bob, period, 100)).amount == 100
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(alice, period, 1)


async def test_the_limit_is_the_allowance_of_each_call(ledger: QuotaLedger) -> None:
    """A plan upgraded mid-period raises the limit at once: the ledger stores usage, not the limit."""
    user, free, paid = uuid4(), allowance(limit=100), allowance(limit=10_000)
    await ledger.seed(user, free, 100)

    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, free, 1)
    assert (await ledger.reserve(user, paid, 1000)).amount == 1000
    assert (await ledger.balance(user, paid)).limit == 10_000


@pytest.mark.parametrize("call", ["reserve", "seed", "settle"])
async def test_negative_amounts_are_refused(ledger: QuotaLedger, call: str) -> None:
    user, period = uuid4(), allowance()
    await ledger.seed(user, period, 100)
    reservation = await ledger.reserve(user, period, 10)

    with pytest.raises(ValueError, match="negative"):
        if call == "reserve":
            await ledger.reserve(user, period, -10)
        elif call == "seed":
            await ledger.seed(uuid4(), period, -10)
        else:
            await ledger.settle(reservation, -10)

    balance = await ledger.balance(user, period)
    assert (balance.used, balance.reserved) == (100, 10)


@pytest.mark.redis
async def test_redis_forgets_a_counter_a_week_after_its_period(redis_client: Redis, redis_prefix: str) -> None:
    ledger = RedisQuotaLedger(redis_client, prefix=redis_prefix)
    user, period = uuid4(), allowance()
    await ledger.seed(user, period, 0)
    await ledger.reserve(user, period, 10)

    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}*")]
    expected_ms = int((period.period_end + timedelta(days=7)).timestamp() * 1000)
    expiries = [await redis_client.pexpiretime(key) for key in keys]

    assert len(keys) == 2, keys
    assert all(abs(expiry - expected_ms) < 1000 for expiry in expiries), expiries


# Concurrency (Redis): every caller follows the protocol a use case does (reserve; on NeedsBaseline seed
# and retry; then settle), all at once, on an allowance where only FIT reservations of AMOUNT fit.
LIMIT, BASELINE, AMOUNT = 1000, 100, 30
FIT = (LIMIT - BASELINE) // AMOUNT


async def reserve_then_settle(ledger: QuotaLedger, user: UUID, period: Allowance) -> int:
    """The tokens settled: AMOUNT if the reservation was granted, 0 if refused."""
    try:
        reservation = await reserve_with_baseline(ledger, user, period)
    except QuotaExceeded:
        return 0
    assert (await ledger.settle(reservation, AMOUNT)).settled
    return AMOUNT


async def reserve_with_baseline(ledger: QuotaLedger, user: UUID, period: Allowance) -> Reservation:
    try:
        return await ledger.reserve(user, period, AMOUNT)
    except NeedsBaseline:
        await ledger.seed(user, period, BASELINE)
        return await ledger.reserve(user, period, AMOUNT)


@pytest.mark.redis
async def test_redis_grants_exactly_what_fits_to_concurrent_clients(redis_url: str, redis_prefix: str) -> None:
    user, period = uuid4(), allowance(limit=LIMIT)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(create_redis(redis_url)) for _ in range(4)]
        ledgers = [RedisQuotaLedger(client, prefix=redis_prefix) for client in clients]

        settled = await asyncio.gather(*(reserve_then_settle(ledgers[i % 4], user, period) for i in range(200)))
        balance = await ledgers[0].balance(user, period)

    assert settled.count(AMOUNT) == FIT
    assert (balance.used, balance.reserved) == (BASELINE + sum(settled), 0)
    assert balance.used <= LIMIT


@pytest.mark.redis
async def test_redis_grants_exactly_what_fits_across_os_processes(redis_url: str, redis_prefix: str) -> None:
    user, period = uuid4(), allowance(limit=LIMIT)
    context = multiprocessing.get_context("spawn")
    everyone_ready = context.Barrier(3)
    results: Queue[list[int]] = context.Queue()
    processes = [
        context.Process(
            target=settle_from_another_process,
            args=(redis_url, redis_prefix, user, period, 60, everyone_ready, results),
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        here = await settle_concurrently(redis_url, redis_prefix, user, period, 80, everyone_ready)
        there = [await asyncio.to_thread(results.get, timeout=CROSS_PROCESS_TIMEOUT_SECONDS) for _ in processes]
    finally:
        for process in processes:
            await asyncio.to_thread(process.join, CROSS_PROCESS_TIMEOUT_SECONDS)
            process.kill()

    settled = here + there[0] + there[1]
    async with create_redis(redis_url) as client:
        balance = await RedisQuotaLedger(client, prefix=redis_prefix).balance(user, period)
    assert len(settled) == 200
    assert settled.count(AMOUNT) == FIT, f"{settled.count(AMOUNT)} of 200 reservations granted where {FIT} fit"
    assert (balance.used, balance.reserved) == (BASELINE + sum(settled), 0)
    assert balance.used <= LIMIT


async def settle_concurrently(
    url: str, prefix: str, user: UUID, period: Allowance, calls: int, everyone_ready: Barrier
) -> list[int]:
    """Run `calls` reserve-then-settle at once from two clients, after every process is connected."""
    async with create_redis(url) as first, create_redis(url) as second:
        ledgers = [RedisQuotaLedger(first, prefix=prefix), RedisQuotaLedger(second, prefix=prefix)]
        await asyncio.gather(first.ping(), second.ping())
        await asyncio.to_thread(everyone_ready.wait, CROSS_PROCESS_TIMEOUT_SECONDS)
        return await asyncio.gather(*(reserve_then_settle(ledgers[i % 2], user, period) for i in range(calls)))


def settle_from_another_process(
    url: str, prefix: str, user: UUID, period: Allowance, calls: int, everyone_ready: Barrier, results: Queue[list[int]]
) -> None:
    """The child process's body (a module-level function, so a spawned interpreter can import it)."""
    results.put(asyncio.run(settle_concurrently(url, prefix, user, period, calls, everyone_ready)))


# Fail closed: with Redis down, no operation lets a reply through unmetered.
RESERVATION = Reservation(id="r1", user_id=UUID(int=1), period_start=allowance().period_start, amount=10)
CALLS: dict[str, Callable[[QuotaLedger], Awaitable[object]]] = {
    "reserve": lambda ledger: ledger.reserve(UUID(int=1), allowance(), 10),
    "seed": lambda ledger: ledger.seed(UUID(int=1), allowance(), 0),
    "settle": lambda ledger: ledger.settle(RESERVATION, 10),
    "release": lambda ledger: ledger.release(RESERVATION),
    "balance": lambda ledger: ledger.balance(UUID(int=1), allowance()),
    "grant": lambda ledger: ledger.grant(UUID(int=1), granted(allowance(), 10)),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_every_operation_fails_closed_at_once_when_redis_is_down(
    unreachable_redis_client: Redis, call: Callable[[QuotaLedger], Awaitable[object]]
) -> None:
    started = time.monotonic()

    with pytest.raises(QuotaUnavailable):
        await call(RedisQuotaLedger(unreachable_redis_client))

    assert time.monotonic() - started < REFUSED_WITHIN_SECONDS


async def test_a_reservation_fails_closed_within_the_timeout_when_redis_hangs(unresponsive_redis_url: str) -> None:
    async with create_redis(unresponsive_redis_url) as client:
        started = time.monotonic()

        with pytest.raises(QuotaUnavailable):
            await RedisQuotaLedger(client).reserve(uuid4(), allowance(), 10)

        assert time.monotonic() - started < HUNG_WITHIN_SECONDS


async def test_a_settle_reports_the_counter_it_leaves(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance()
    await ledger.seed(user, period, 100)
    first = await ledger.reserve(user, period, 50)
    second = await ledger.reserve(user, period, 30)
    settlement = await ledger.settle(first, 40)
    assert (settlement.settled, settlement.used, settlement.reserved) == (True, 140, 30)
    again = await ledger.settle(first, 40)
    assert (again.settled, again.used, again.reserved) == (False, 140, 30)
    await ledger.release(second)


def granted(period: Allowance, tokens: int) -> GrantedTokens:
    return GrantedTokens(uuid4(), tokens, period.period_start, period.period_end)


async def test_a_grant_raises_the_limit_of_its_period_at_once_and_counts_once(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    await ledger.seed(user, period, 900)
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 500)
    grant = granted(period, 400)

    await ledger.grant(user, grant)
    await ledger.grant(user, grant)  # told twice (a retried job): counted once

    balance = await ledger.balance(user, period)
    assert (balance.limit, balance.granted, balance.remaining) == (1400, 400, 500)
    held = await ledger.reserve(user, period, 500)
    assert held.granted == 400  # what the reply's overage and thresholds are measured against
    with pytest.raises(QuotaExceeded):
        await ledger.reserve(user, period, 1)
    settlement = await ledger.settle(held, 500)
    assert (settlement.used, settlement.granted) == (1400, 400)


async def test_a_grant_before_the_seed_is_kept_and_a_seed_counts_each_grant_once(ledger: QuotaLedger) -> None:
    user, period = uuid4(), allowance(limit=1000)
    early, known = granted(period, 100), granted(period, 50)
    await ledger.grant(user, early)
    with pytest.raises(NeedsBaseline):  # a grant alone is no baseline
        await ledger.balance(user, period)

    # The seed knows both grants (read from the durable records): the one the ledger already has stays single.
    await ledger.seed(user, Allowance(**{**_fields(period), "grants": (early, known)}), 0)

    assert (await ledger.balance(user, period)).limit == 1150


async def test_a_grant_ends_with_its_period(ledger: QuotaLedger) -> None:
    user, this, next_ = uuid4(), allowance(limit=1000), allowance(limit=1000, months_ahead=1)
    await ledger.seed(user, this, 0)
    await ledger.seed(user, next_, 0)

    await ledger.grant(user, granted(this, 500))
    await ledger.seed(user, Allowance(**{**_fields(next_), "grants": (granted(this, 7),)}), 0)  # another period's

    assert (await ledger.balance(user, this)).limit == 1500
    assert (await ledger.balance(user, next_)).limit == 1000


def _fields(period: Allowance) -> dict[str, object]:
    return {name: getattr(period, name) for name in ("plan", "limit", "period_start", "period_end", "overage")}
