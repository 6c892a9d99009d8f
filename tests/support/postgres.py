"""Databases for tests: a fresh PostgreSQL database per test run (on the real server at 127.0.0.1:5432),
a migrated SQLite file per test, and `uow_factory`, which runs one contract suite over the in-memory,
SQLite and PostgreSQL units of work.

PostgreSQL being down fails the tests that need it; it never skips them. Databases are created empty
and migrated with the project's own Alembic history, so every test runs against the real schema.
The fixtures are synchronous (Alembic's env.py runs its own event loop), except those holding an engine.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.memory.database import InMemoryDatabase
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from adapters.sql.engine import create_engine, create_session_factory
from adapters.sql.migrations import upgrade
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.identity.ports import IdentityUnitOfWork

POSTGRES_SERVER = "postgres@127.0.0.1:5432"
ADMIN_URL = f"postgresql+asyncpg://{POSTGRES_SERVER}/postgres"


def _execute(url: str, *statements: str) -> None:
    """Run statements outside any transaction (CREATE/DROP DATABASE refuse to run inside one)."""

    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        except (OSError, InterfaceError) as error:
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {error!r}")
        finally:
            await engine.dispose()

    asyncio.run(run())


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    _execute(url, "SET lock_timeout = '10s'", f"TRUNCATE {tables} CASCADE")


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[], str]]:
    """Creates empty databases named parley_test_<random>; every one is dropped when the run ends."""
    created: list[str] = []

    def make() -> str:
        name = f"parley_test_{secrets.token_hex(6)}"
        _execute(ADMIN_URL, f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"

    yield make
    for name in created:
        _execute(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_postgres_database(make_postgres_database: Callable[[], str]) -> str:
    url = make_postgres_database()
    upgrade(url)
    return url


@pytest.fixture
def postgres_url(migrated_postgres_database: str) -> str:
    """The run's migrated PostgreSQL database, emptied before the test (so a failed test leaves no trace)."""
    _truncate_all(migrated_postgres_database)
    return migrated_postgres_database


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per run; each test gets a copy, which is far quicker than migrating again."""
    path = tmp_path_factory.mktemp("sqlite-template") / "parley.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite file of the test's own."""
    path = tmp_path / "parley.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each SQL backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all (not even Alembic's), on each SQL backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("make_postgres_database")()
    return url


@pytest.fixture
async def postgres_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the run's PostgreSQL database, for tests that hold two transactions at once."""
    engine = create_engine(postgres_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def sql_uow_factory(database_url: str) -> AsyncIterator[Callable[[], SqlUnitOfWork]]:
    """Units of work on each SQL backend, for what only a real database enforces."""
    engine = create_engine(database_url)
    session_factory = create_session_factory(engine)
    yield lambda: SqlUnitOfWork(session_factory)
    await engine.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uow_backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL behind `uow_factory` (None for the in-memory store)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def uow_factory(uow_backend: str | None) -> AsyncIterator[Callable[[], IdentityUnitOfWork]]:
    """Makes units of work over one empty store: in memory, SQLite or PostgreSQL."""
    if uow_backend is None:
        database = InMemoryDatabase()
        yield lambda: InMemoryUnitOfWork(database)
        return
    engine = create_engine(uow_backend)
    session_factory = create_session_factory(engine)
    yield lambda: SqlUnitOfWork(session_factory)
    await engine.dispose()
