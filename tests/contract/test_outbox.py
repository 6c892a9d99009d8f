"""One suite for the outbox, run against memory, SQLite and PostgreSQL, plus the row-locking promises
only PostgreSQL can keep: relays never claim the same message, and a locked message waits for its runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql.unit_of_work import SqlUnitOfWork
from application.shared.ports import OutboxMessage, UnitOfWork
from domain.shared.ids import new_id

UowFactory = Callable[[], UnitOfWork]
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=-5)))


def messages(count: int) -> list[OutboxMessage]:
    """Made one after another, so each id is greater than the one before: that order is "oldest first"."""
    return [
        OutboxMessage(topic=f"topic.{n}", payload={"n": n}, created_at=T0 + timedelta(seconds=n)) for n in range(count)
    ]


async def stored(uow_factory: UowFactory, *batch: OutboxMessage) -> None:
    async with uow_factory() as uow:
        for message in batch:
            await uow.outbox.add(message)
        await uow.commit()


async def test_a_message_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    message = OutboxMessage(
        topic="identity.verification_email",
        payload={"user_id": str(new_id()), "nested": {"values": [1, 2.5, None, True], "text": "héllo ✓"}},
        created_at=T0,
        published_at=T0 + timedelta(seconds=1),
        done_at=T0 + timedelta(seconds=2),
        attempts=3,
        last_error="451 try again later",
    )
    await stored(uow_factory, message)

    async with uow_factory() as uow:
        got = await uow.outbox.get(message.id)
        locked = await uow.outbox.lock(message.id)

    assert got == message
    assert locked == message
    assert got is not None
    assert got.created_at.utcoffset() is not None
    assert got.done_at == datetime(2026, 3, 1, 17, 30, 47, 123456, tzinfo=UTC)


async def test_unknown_messages_are_none(uow_factory: UowFactory) -> None:
    await stored(uow_factory, *messages(1))

    async with uow_factory() as uow:
        assert await uow.outbox.get(new_id()) is None
        assert await uow.outbox.lock(new_id()) is None


async def test_unpublished_messages_are_claimed_oldest_first_up_to_the_limit(uow_factory: UowFactory) -> None:
    m0, m1, m2, m3, m4 = messages(5)
    m1.published_at = T0
    await stored(uow_factory, m4, m1, m3, m0, m2)

    async with uow_factory() as uow:
        assert await uow.outbox.claim_unpublished(2) == [m0, m2]
    async with uow_factory() as uow:
        assert await uow.outbox.claim_unpublished(10) == [m0, m2, m3, m4]


async def test_the_unpublished_messages_are_counted(uow_factory: UowFactory) -> None:
    m0, m1, m2 = messages(3)
    m1.published_at = T0
    async with uow_factory() as uow:
        assert await uow.outbox.count_unpublished() == 0
    await stored(uow_factory, m0, m1, m2)

    async with uow_factory() as uow:
        assert await uow.outbox.count_unpublished() == 2
        m0.published_at = T0
        await uow.outbox.update(m0)
        assert await uow.outbox.count_unpublished() == 1  # this transaction's own change counts


async def test_marks_written_by_update_are_stored(uow_factory: UowFactory) -> None:
    first, second = messages(2)
    await stored(uow_factory, first, second)

    async with uow_factory() as uow:
        for message in await uow.outbox.claim_unpublished(10):
            message.published_at = T0 + timedelta(minutes=1)
            await uow.outbox.update(message)
        await uow.commit()
    async with uow_factory() as uow:
        locked = await uow.outbox.lock(first.id)
        assert locked is not None
        locked.attempts += 1
        locked.done_at = T0 + timedelta(minutes=2)
        locked.last_error = None
        await uow.outbox.update(locked)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.outbox.claim_unpublished(10) == []
        assert await uow.outbox.get(first.id) == locked
        done = await uow.outbox.get(second.id)
    assert done is not None
    assert done.published_at == T0 + timedelta(minutes=1)
    assert done.done_at is None


async def test_marks_not_committed_are_lost_so_the_message_is_claimed_again(uow_factory: UowFactory) -> None:
    (message,) = messages(1)
    await stored(uow_factory, message)

    async with uow_factory() as uow:
        (claimed,) = await uow.outbox.claim_unpublished(10)
        claimed.published_at = T0
        await uow.outbox.update(claimed)  # the broker failed before commit: the relay leaves the unit

    async with uow_factory() as uow:
        assert await uow.outbox.claim_unpublished(10) == [message]


# --- PostgreSQL row locks -----------------------------------------------------------------------


@pytest.mark.postgres
async def test_concurrent_relays_never_claim_the_same_message(
    postgres_sessions: async_sessionmaker[AsyncSession],
) -> None:
    batch = messages(5)
    await stored(lambda: SqlUnitOfWork(postgres_sessions), *batch)

    async with SqlUnitOfWork(postgres_sessions) as first, SqlUnitOfWork(postgres_sessions) as second:
        claimed_first = await first.outbox.claim_unpublished(2)
        # Without SKIP LOCKED the second claim would wait for the first transaction: bound it.
        claimed_second = await asyncio.wait_for(second.outbox.claim_unpublished(10), timeout=5)

    assert claimed_first == batch[:2]
    assert claimed_second == batch[2:]


@pytest.mark.postgres
async def test_a_locked_message_waits_for_the_runner_holding_it(
    postgres_sessions: async_sessionmaker[AsyncSession],
) -> None:
    (message,) = messages(1)
    await stored(lambda: SqlUnitOfWork(postgres_sessions), message)

    async with SqlUnitOfWork(postgres_sessions) as runner, SqlUnitOfWork(postgres_sessions) as rival:
        held = await runner.outbox.lock(message.id)
        assert held is not None
        rival_lock = asyncio.create_task(rival.outbox.lock(message.id))
        await backend_waiting_for_a_lock(postgres_sessions)
        held.done_at = T0
        await runner.outbox.update(held)
        await runner.commit()
        seen_by_rival = await asyncio.wait_for(rival_lock, timeout=5)

    assert seen_by_rival is not None
    assert seen_by_rival.done_at == T0  # the rival sees the job done, so it does not run it again


async def backend_waiting_for_a_lock(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Return once some backend of this database is blocked on a lock (polled: PostgreSQL sends no event)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(5), sessions() as session:
        while not await session.scalar(query):
            await asyncio.sleep(0.01)
