"""The rollups the export writes change no answer: every question, asked of the ParquetWarehouse (rollups
for the completely exported days, raw Parquet and the database's tail after them), answers exactly what the
same question answers over the same facts read raw, for ranges inside the rolled-up days, across the
boundary with the tail and inside the tail, for every interval; after more facts arrive, after a day is
exported again and after the retention deleted the exported facts from the database. MRR among them: its
rollup's open states and islands are closed by the tail's subscription changes (cancels, restarts, upgrades
of the paying users), so the states and islands that cross the frontier are compared too."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import duckdb
import pytest

from adapters.analytics.archive import DuckDbLimits, LocalParquetArchive
from adapters.analytics.duckdb_queries import DuckDbAnalyticsQueries
from adapters.analytics.schema import connect, load_facts
from adapters.analytics.warehouse import ParquetWarehouse
from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase
from adapters.memory.locks import InProcessRunLock
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.analytics.export import ExportFacts, PurgeExportedFacts
from application.analytics.ports import ExportRecord
from application.analytics.range import DateRange, Interval
from application.shared.facts import Fact, FactKind

T = TypeVar("T")
LATE = timedelta(minutes=5)
START = date(2026, 1, 26)  # a Monday, days before a month's end: ranges cross weeks, months and the 31-day window
DAYS = 75
NOW = datetime.combine(START + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)
PROVIDERS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude"), (None, None)]
SUBSCRIPTION_KINDS = [
    FactKind.SUBSCRIPTION_STARTED,
    FactKind.SUBSCRIPTION_UPGRADED,
    FactKind.SUBSCRIPTION_RENEWED,
    FactKind.SUBSCRIPTION_PAST_DUE,
    FactKind.SUBSCRIPTION_CANCELED,
]


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def make_facts(rng: random.Random, start: datetime, end: datetime, users: list[UUID], signups: bool) -> list[Fact]:
    """Replies of every sort (cached, failed, no first token, no user, no provider; latencies that repeat),
    payments and subscription changes between `start` and `end`, and each user's one signup when asked."""
    facts = []
    if signups:
        facts += [
            Fact(kind=FactKind.USER_SIGNED_UP, occurred_at=_moment(rng, start, end), user_id=who) for who in users
        ]
    for _ in range(int((end - start).total_seconds() // 1500)):
        provider, model = rng.choice(PROVIDERS)
        failed = rng.random() < 0.08
        data: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "plan": rng.choice(["free", "plus", "pro", None]),
            "prompt_tokens": rng.randrange(0, 900),
            "completion_tokens": rng.randrange(0, 300),
            "cost_micros": rng.randrange(0, 9000),
            "latency_ms": rng.choice([rng.randrange(200, 2000), 500, 750]),
            "ttft_ms": None if rng.random() < 0.1 else rng.randrange(50, 400),
            "failovers": rng.choice([0, 0, 0, 1, 2]),
            "cached": rng.random() < 0.1,
            "finish_reason": "error" if failed and rng.random() < 0.5 else rng.choice(["stop", "length"]),
            "error": "provider-unavailable" if failed else None,
        }
        who = None if rng.random() < 0.02 else rng.choice(users)
        facts.append(
            Fact(
                kind=FactKind.MESSAGE_REPLIED,
                occurred_at=_moment(rng, start, end),
                user_id=who,
                data={key: value for key, value in data.items() if value is not None},
            )
        )
    for _ in range(int((end - start).total_seconds() // 20000)):
        who = rng.choice(users[:15])
        payment = {"amount_cents": rng.choice([2000, 5000]), "currency": "usd", "plan": rng.choice(["plus", "pro"])}
        kind = rng.choice([FactKind.PAYMENT_SUCCEEDED, FactKind.PAYMENT_SUCCEEDED, FactKind.PAYMENT_REFUNDED])
        facts.append(Fact(kind=kind, occurred_at=_moment(rng, start, end), user_id=who, data=payment))
        status = rng.choice(["active", "active", "past_due", "canceled"])
        change = {  # two subscriptions a user, whose paid states overlap, touch or leave gaps
            "subscription_id": f"sub-{who}-{rng.randrange(2)}",
            "plan": payment["plan"],
            "price_cents": payment["amount_cents"],
            "currency": "usd",
            "status": status,
        }
        facts.append(
            Fact(kind=rng.choice(SUBSCRIPTION_KINDS), occurred_at=_moment(rng, start, end), user_id=who, data=change)
        )
    return facts


def subscription_changes(rng: random.Random, start: datetime, users: list[UUID]) -> list[Fact]:
    """A change of each paying user's subscription, one every ten minutes from `start`: cancels, restarts
    (a new paid state after a canceled one), upgrades and past-due periods, so every state left open at the
    frontier is closed or continued by the tail."""
    facts = []
    for n, who in enumerate(users):
        price = rng.choice([2000, 5000])
        change = {
            "subscription_id": f"sub-{who}-{rng.randrange(2)}",
            "plan": "pro" if price == 5000 else "plus",
            "price_cents": price,
            "currency": "usd",
            "status": rng.choice(["active", "past_due", "canceled", "canceled"]),
        }
        kind = rng.choice(SUBSCRIPTION_KINDS)
        facts.append(Fact(kind=kind, occurred_at=start + timedelta(minutes=10 * n), user_id=who, data=change))
    return facts


class RawFacts:
    """FactViews over the facts themselves, read raw (no Parquet, no rollup), loaded once."""

    def __init__(self, facts: list[Fact]) -> None:
        self.connection = connect()
        self.as_of = load_facts(self.connection, facts)

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        return query(self.connection), self.as_of


def questions(queries: DuckDbAnalyticsQueries, span: DateRange) -> Iterator[tuple[str, Awaitable[Any]]]:
    yield "user_count", queries.user_count(span)
    yield "retention", queries.retention(span)
    yield "provider_usage", queries.provider_usage(span)
    yield "provider_performance", queries.provider_performance(span)
    for interval in Interval:
        yield f"user_growth/{interval}", queries.user_growth(span, interval)
        yield f"active_users/{interval}", queries.active_users(span, interval)
        yield f"messages/{interval}", queries.messages(span, interval)
        yield f"messages_by_provider/{interval}", queries.messages_by_provider(span, interval)
        yield f"revenue/{interval}", queries.revenue(span, interval)
        yield f"mrr/{interval}", queries.mrr(span, interval)
        yield f"margin/{interval}", queries.margin(span, interval)


def day(offset: int) -> date:
    return START + timedelta(days=offset)


# Inside the rolled-up days (partial weeks and months at both ends), across the boundary, inside the tail.
RANGES = [
    DateRange(day(0), day(DAYS - 1)),
    DateRange(day(3), day(45)),
    DateRange(day(6), day(40)),
    DateRange(day(33), day(DAYS - 1)),
    DateRange(day(50), day(DAYS - 2)),
    DateRange(day(DAYS - 9), day(DAYS - 1)),
    DateRange(day(DAYS - 1), day(DAYS - 1)),
]


@dataclass
class Setup:
    database: InMemoryDatabase
    clock: FrozenClock
    archive: LocalParquetArchive
    warehouse: ParquetWarehouse
    export: ExportFacts
    facts: list[Fact]

    async def record(self, facts: list[Fact]) -> None:
        async with InMemoryUnitOfWork(self.database) as uow:
            for fact in facts:
                await uow.facts.record(fact)
            await uow.commit()
        self.facts += facts
        self.warehouse.invalidate()

    async def assert_answers_match(self) -> None:
        rolled = DuckDbAnalyticsQueries(self.warehouse)
        facts = RawFacts(self.facts)
        raw = DuckDbAnalyticsQueries(facts)
        try:
            for span in RANGES:
                for (name, got), (_, expected) in zip(questions(rolled, span), questions(raw, span), strict=True):
                    assert (await got).value == (await expected).value, f"{name} over {span.first}..{span.last}"
        finally:
            facts.connection.close()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    rng = random.Random(20260126)
    database = InMemoryDatabase()
    clock = FrozenClock(NOW)
    archive = LocalParquetArchive(tmp_path / "analytics", DuckDbLimits(memory_limit="256MB"))
    factory = lambda: InMemoryUnitOfWork(database)  # noqa: E731
    # The tail is read again when the test records facts or the export runs (invalidate), not at every query.
    warehouse = ParquetWarehouse(factory, archive, late=LATE, tail_seconds=3600, threads=1)
    export = ExportFacts(factory, archive, InProcessRunLock(), clock, late=LATE, on_exported=warehouse.invalidate)
    built = Setup(database, clock, archive, warehouse, export, [])
    users = [UUID(int=n + 1) for n in range(60)]
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    await built.record(make_facts(rng, start, NOW, users, signups=True))
    await built.export()  # every day complete but the last, exported up to now
    await built.record(make_facts(rng, NOW, NOW + timedelta(hours=5), users, signups=False))
    await built.record(subscription_changes(rng, NOW + timedelta(minutes=5), users[:15]))
    built.clock.advance(timedelta(hours=5))
    yield built
    built.warehouse.close()


async def test_every_answer_with_rollups_is_the_raw_answer_across_the_tail_boundary(setup: Setup) -> None:
    rollups = setup.archive.rollups()
    assert rollups is not None and rollups.before == day(DAYS - 1)  # the last day is the tail's
    assert {"messages", "latency_day", "latency_month", "active_gaps", "retention", "mrr"} <= rollups.present
    assert rollups.mrr is not None

    await setup.assert_answers_match()


async def test_mrr_with_rollups_closes_the_open_states_against_the_tail(setup: Setup) -> None:
    # The comparison means something: people pay and churn inside the rolled-up days, and the tail's changes
    # end or continue states and islands left open at the frontier.
    rollups = setup.archive.rollups()
    assert rollups is not None and rollups.mrr is not None
    connection = duckdb.connect()
    try:
        [(open_states,)] = connection.execute(
            f"SELECT count(*) FROM read_parquet('{rollups.mrr['open']}') WHERE part = 'state'"
        ).fetchall()
    finally:
        connection.close()
    assert open_states > 0
    points = (await DuckDbAnalyticsQueries(setup.warehouse).mrr(RANGES[0], Interval.DAY)).value
    assert sum(point.churned_users for point in points) > 0 and points[-1].mrr_cents > 0

    await setup.assert_answers_match()


async def test_answers_stay_exact_as_days_complete_are_exported_again_and_are_purged(setup: Setup) -> None:
    setup.clock.advance(timedelta(days=2))
    await setup.export()  # the last day completes: the frontier moves on
    assert (rollups := setup.archive.rollups()) is not None and rollups.before == day(DAYS + 1)
    await setup.assert_answers_match()

    await setup.export(day(20), day(22))  # exporting complete days again recomputes their rollups
    await setup.assert_answers_match()

    purge = PurgeExportedFacts(lambda: InMemoryUnitOfWork(setup.database), setup.clock, retention_days=7, late=LATE)
    assert await purge.run_locked() > 0  # the rollups of deleted facts stay: they are read instead of them
    await setup.assert_answers_match()


async def test_a_tail_reaching_back_into_rolled_up_days_is_counted_once_and_the_rollups_stop_before_it(
    setup: Setup,
) -> None:
    # Day 40's record says it was exported only partly (as if its export had been redone early): the database
    # is the tail from then on, so the rollups are read only up to day 40 (the users' recent active days
    # included) and the rest raw, the tail's facts that are in Parquet as well counted once.
    partial = datetime.combine(day(40), datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
    async with InMemoryUnitOfWork(setup.database) as uow:
        await uow.exports.save(ExportRecord(day=day(40), exported_at=partial, through=partial, facts=1))
        await uow.commit()
    setup.warehouse.invalidate()

    await setup.assert_answers_match()
