"""A database connection that dies in the pool (a PostgreSQL restart, a proxy timeout, an operator killing
backends): the request that meets it fails as "unavailable" (503), and the dead connection is dropped, so the
requests after it work again instead of meeting it over and over."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from adapters.sql.engine import create_engine, create_session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from entrypoints.http.problems import UNAVAILABLE_ERRORS
from tests.contract.test_identity_repositories import a_user, stored_user

pytestmark = pytest.mark.postgres


async def test_a_connection_killed_in_the_pool_fails_one_unit_and_is_replaced(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection: the next unit reuses it
    sessions = create_session_factory(engine)
    try:
        user = await stored_user(lambda: SqlUnitOfWork(sessions), a_user())
        async with SqlUnitOfWork(sessions) as uow:
            assert await uow.users.get(user.id) == user
        await _terminate_other_backends(postgres_url)

        with pytest.raises(DBAPIError) as failure:
            async with SqlUnitOfWork(sessions) as uow:
                await uow.users.get(user.id)
        assert isinstance(failure.value, UNAVAILABLE_ERRORS)  # answered 503 by the HTTP layer

        async with SqlUnitOfWork(sessions) as uow:
            assert await uow.users.get(user.id) == user
    finally:
        await engine.dispose()


async def _terminate_other_backends(url: str) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    try:
        await admin.execute(f"SELECT pg_terminate_backend(pid) {others}")
        for _ in range(500):  # until the server has ended them (it signals; they exit on their own)
            if not await admin.fetchval(f"SELECT count(*) {others}"):
                break
        else:
            raise AssertionError("the terminated backends are still there")
    finally:
        await admin.close()
