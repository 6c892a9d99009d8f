"""One suite for the run lock, run against the in-process lock, PostgreSQL's advisory locks and Redis: while
one runner holds a name, every other runner (another lock object on its own connection, as another process
has) is told no at once, other names are free, and the name is free again when the holder's block ends, also
by an exception."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from adapters.memory.locks import InProcessRunLock
from adapters.redis.client import create_redis
from adapters.redis.locks import RedisRunLock
from adapters.sql.engine import create_engine
from adapters.sql.locks import PostgresAdvisoryLock
from application.shared.locks import RunLock

MakeLock = Callable[[], RunLock]


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def lock_backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend, and for PostgreSQL its database (made by a synchronous fixture)."""
    return request.param, request.getfixturevalue("postgres_url") if request.param == "postgres" else None


@pytest.fixture
async def make_lock(lock_backend: tuple[str, str | None]) -> AsyncIterator[MakeLock]:
    """Makes locks that share one lock space, each as another process would hold it."""
    backend, url = lock_backend
    if backend == "memory":
        shared = InProcessRunLock()
        yield lambda: shared
        return
    if backend == "redis":
        client: Redis = create_redis("redis://127.0.0.1:6379/0")
        prefix = f"parley-test:{uuid4().hex}:"
        yield lambda: RedisRunLock(client, prefix=prefix)
        assert not [key async for key in client.scan_iter(match=f"{prefix}*")]  # released: nothing left
        await client.aclose()
        return
    assert url is not None
    engines = []

    def make() -> RunLock:
        engine = create_engine(url, pool_size=2, max_overflow=0)
        engines.append(engine)
        return PostgresAdvisoryLock(engine)

    yield make
    for engine in engines:
        await engine.dispose()


async def test_one_runner_at_a_time_and_free_again_after(make_lock: MakeLock) -> None:
    first, second = make_lock(), make_lock()

    async with first.hold("analytics-export") as held:
        assert held
        async with second.hold("analytics-export") as other:
            assert not other
        async with second.hold("something-else") as elsewhere:
            assert elsewhere

    async with second.hold("analytics-export") as held_after:
        assert held_after


async def test_the_lock_is_freed_when_the_holder_fails(make_lock: MakeLock) -> None:
    first, second = make_lock(), make_lock()

    with pytest.raises(RuntimeError):
        async with first.hold("analytics-export") as held:
            assert held
            raise RuntimeError("the export failed")

    async with second.hold("analytics-export") as held_after:
        assert held_after
