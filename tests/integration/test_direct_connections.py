"""The connections the direct statements keep between units (adapters/sql/direct.py): a unit cancelled in the
middle of a statement leaves nothing broken for the next one, a unit that goes on into a transaction finds its
connection in the pool (it never waits for one it holds aside itself), and disposing of the engine closes every
connection it kept."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select

from adapters.sql.engine import create_engine
from adapters.sql.transaction import SqlTransaction

pytestmark = pytest.mark.postgres


async def test_a_unit_cancelled_mid_statement_leaves_the_next_unit_a_working_connection(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection: the next unit reuses it
    admin = await asyncpg.connect(_dsn(postgres_url))
    try:
        slow = asyncio.create_task(_read(engine, select(func.pg_sleep(30))))
        await _until(admin, "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow

        for number in range(3):
            assert await _read(engine, select(func.abs(-number))) == number
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_unit_that_reads_then_begins_a_transaction_gets_the_pools_only_connection_back(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with asyncio.timeout(5):  # the pool's own wait for a connection is 30 s
            for _ in range(3):
                transaction = SqlTransaction(engine)
                try:
                    outside = (await transaction.read(select(func.pg_backend_pid()))).scalar()  # no transaction
                    inside = (await transaction.execute(select(func.pg_backend_pid()))).scalar()  # BEGIN ...
                    await transaction.commit()
                finally:
                    await transaction.close()
                assert inside == outside  # the same (and only) connection
    finally:
        await engine.dispose()


async def test_disposing_of_the_engine_closes_the_connections_kept_between_units(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=6, max_overflow=0)
    admin = await asyncpg.connect(_dsn(postgres_url))
    try:
        started = asyncio.Barrier(3)

        async def unit() -> int:
            transaction = SqlTransaction(engine)
            try:
                await transaction.read(select(func.now()))  # all three hold a connection at once
                await started.wait()
                return int((await transaction.read(select(func.pg_backend_pid()))).scalar())
            finally:
                await transaction.close()

        backends = set(await asyncio.gather(unit(), unit(), unit()))
        assert len(backends) == 3
        assert await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = any($1)", list(backends)) == 3

        await engine.dispose()

        await _until(admin, f"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid IN ({', '.join(map(str, backends))})")
    finally:
        await admin.close()
        await engine.dispose()


async def _read(engine: object, statement: object) -> object:
    transaction = SqlTransaction(engine)  # type: ignore[arg-type]
    try:
        return (await transaction.read(statement)).scalar()  # type: ignore[arg-type]
    finally:
        await transaction.close()


async def _until(admin: asyncpg.Connection, condition: str) -> None:
    """Ask PostgreSQL until `condition` holds (each ask is a round trip; nothing sleeps)."""
    for _ in range(2000):
        if await admin.fetchval(condition):
            return
    raise AssertionError(f"never true: {condition}")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")
