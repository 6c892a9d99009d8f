"""One suite for the analytics fact log (`uow.facts`), run against memory, SQLite and PostgreSQL: a fact reads
back as recorded, a fact whose id is recorded already is ignored (the first one stays), and a unit of work that
is rolled back records nothing. Facts are read back here with a plain SELECT (memory: InMemoryFactLog.all())."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from adapters.memory.database import InMemoryDatabase, Transaction
from adapters.memory.facts import InMemoryFactLog
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from adapters.sql.engine import create_engine
from adapters.sql.tables import analytics_facts
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from application.shared.ports import UnitOfWork
from domain.shared.ids import new_id

T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))


@dataclass
class Log:
    uow: Callable[[], UnitOfWork]
    facts: Callable[[], Awaitable[list[Fact]]]


@pytest.fixture
async def log(uow_backend: str | None) -> AsyncIterator[Log]:
    if uow_backend is None:
        database = InMemoryDatabase()

        async def in_memory() -> list[Fact]:
            return list(InMemoryFactLog(Transaction(database)).all())

        yield Log(lambda: InMemoryUnitOfWork(database), in_memory)
        return
    engine = create_engine(uow_backend)

    async def in_sql() -> list[Fact]:
        async with engine.connect() as connection:
            rows = await connection.execute(select(analytics_facts).order_by(analytics_facts.c.occurred_at))
            return [
                Fact(
                    id=row.id, kind=FactKind(row.kind), occurred_at=row.occurred_at, user_id=row.user_id, data=row.data
                )
                for row in rows
            ]

    yield Log(lambda: SqlUnitOfWork(engine), in_sql)
    await engine.dispose()


def replied(**changes: object) -> Fact:
    data = {
        "conversation_id": str(new_id()),
        "plan": "pro",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_tokens": 1234,
        "completion_tokens": 567,
        "cost_micros": 525,
        "latency_ms": 812,
        "ttft_ms": None,
        "failovers": 1,
        "cached": False,
        "finish_reason": "length",
        "error": None,
    }
    return Fact(kind=FactKind.MESSAGE_REPLIED, occurred_at=T0, user_id=new_id(), data=data | changes)


async def record(log: Log, *facts: Fact) -> None:
    async with log.uow() as uow:
        for fact in facts:
            await uow.facts.record(fact)
        await uow.commit()


async def test_a_fact_reads_back_as_recorded(log: Log) -> None:
    fact = replied(model="Ünïcode-model")
    signed_up = Fact(kind=FactKind.USER_SIGNED_UP, occurred_at=T0 + timedelta(seconds=1), user_id=new_id())

    await record(log, fact, signed_up)

    got, second = await log.facts()
    assert (got, second) == (fact, signed_up)
    assert got.occurred_at == T0 and got.occurred_at.utcoffset() is not None
    assert got.row() == fact.row()  # every field of the kind, typed as recorded (None stays None)


async def test_a_fact_whose_id_is_recorded_already_is_ignored(log: Log) -> None:
    key = fact_id(FactKind.PAYMENT_SUCCEEDED, "payment-1")
    first = Fact(id=key, kind=FactKind.PAYMENT_SUCCEEDED, occurred_at=T0, user_id=None, data={"amount_cents": 2000})
    again = Fact(id=key, kind=FactKind.PAYMENT_SUCCEEDED, occurred_at=T0, user_id=None, data={"amount_cents": 9})
    await record(log, first)

    await record(log, again, replied())  # the replay's other facts are recorded, its duplicate is not
    async with log.uow() as uow:  # and twice in one unit
        await uow.facts.record(again)
        await uow.facts.record(again)
        await uow.commit()

    facts = await log.facts()
    assert len(facts) == 2
    assert [f.data["amount_cents"] for f in facts if f.id == key] == [2000]


async def test_a_unit_of_work_rolled_back_records_no_fact(log: Log) -> None:
    async with log.uow() as uow:
        await uow.facts.record(replied())
        await uow.rollback()
    with pytest.raises(RuntimeError):
        async with log.uow() as uow:
            await uow.facts.record(replied())
            raise RuntimeError("the change failed after its fact was recorded")
    async with log.uow() as uow:
        await uow.facts.record(replied())  # never committed

    assert await log.facts() == []


async def test_ids_are_the_same_for_the_same_kind_and_key() -> None:
    assert fact_id(FactKind.PAYMENT_SUCCEEDED, "p") == fact_id(FactKind.PAYMENT_SUCCEEDED, "p")
    assert fact_id(FactKind.PAYMENT_SUCCEEDED, "p") != fact_id(FactKind.PAYMENT_REFUNDED, "p")
