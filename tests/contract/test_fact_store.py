"""One suite for the fact store (uow.facts), run against memory, SQLite and PostgreSQL: a fact reads back
with every field, a fact recorded twice (same id) is kept once, a rolled-back unit records nothing, and
`between` and `delete_before` cut at the bounds they are given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from application.analytics.ports import AnalyticsUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from domain.shared.ids import new_id

UowFactory = Callable[[], Any]
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


def replied(at: datetime, **data: Any) -> Fact:
    return Fact(kind=FactKind.MESSAGE_REPLIED, occurred_at=at, user_id=new_id(), data=data)


async def record(uow_factory: UowFactory, *facts: Fact) -> None:
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        for fact in facts:
            await uow.facts.record(fact)
        await uow.commit()


async def stored(uow_factory: UowFactory, start: datetime | None = None, end: datetime | None = None) -> list[Fact]:
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        return list(await uow.facts.between(start, end))


async def test_a_fact_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    fact = replied(
        T0, model="demo", provider="demo", prompt_tokens=12, completion_tokens=30, cached=False, ttft_ms=None
    )
    await record(uow_factory, fact)

    [got] = await stored(uow_factory)

    assert got == fact
    assert got.occurred_at.utcoffset() == timedelta(0)


async def test_a_fact_recorded_twice_is_kept_once(uow_factory: UowFactory) -> None:
    key = fact_id(FactKind.PAYMENT_SUCCEEDED, "pay_1")
    first = Fact(kind=FactKind.PAYMENT_SUCCEEDED, occurred_at=T0, user_id=new_id(), data={"amount_cents": 2000}, id=key)
    await record(uow_factory, first)
    await record(uow_factory, Fact(kind=first.kind, occurred_at=T0, user_id=first.user_id, data={}, id=key))

    assert await stored(uow_factory) == [first]


async def test_a_rolled_back_unit_records_no_fact(uow_factory: UowFactory) -> None:
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        await uow.facts.record(replied(T0))

    assert await stored(uow_factory) == []


async def test_between_and_delete_before_cut_at_their_bounds(uow_factory: UowFactory) -> None:
    facts = [replied(T0 + timedelta(hours=hour)) for hour in range(4)]
    await record(uow_factory, *reversed(facts))

    assert await stored(uow_factory, T0 + timedelta(hours=1), T0 + timedelta(hours=3)) == facts[1:3]
    assert await stored(uow_factory) == facts
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        assert await uow.facts.delete_before(T0 + timedelta(hours=2)) == 2
        await uow.commit()
    assert await stored(uow_factory) == facts[2:]


async def test_pages_after_a_position_read_each_fact_once_even_where_moments_tie(uow_factory: UowFactory) -> None:
    tied = [replied(T0 + timedelta(minutes=1)) for _ in range(5)]  # one moment, ordered by id
    facts = sorted([replied(T0), *tied, replied(T0 + timedelta(minutes=2))], key=lambda f: (f.occurred_at, f.id.int))
    await record(uow_factory, *reversed(facts))

    read: list[Fact] = []
    uow: AnalyticsUnitOfWork
    while True:
        after = (read[-1].occurred_at, read[-1].id) if read else None
        async with uow_factory() as uow:
            page = list(await uow.facts.between(None, None, 2, after=after))
        read += page
        if len(page) < 2:
            break

    assert read == facts
    async with uow_factory() as uow:
        third = (facts[2].occurred_at, facts[2].id)
        bounded = await uow.facts.between(None, T0 + timedelta(minutes=2), 10, after=third)
    assert list(bounded) == facts[3:6]
