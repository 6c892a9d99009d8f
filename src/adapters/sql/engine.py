"""Engines and sessions for both databases, tuned where they differ.

SQLite (the embedded default) gets WAL, so readers never wait for the writer, a busy timeout, so
concurrent writers from this process queue instead of failing with "database is locked", and foreign
keys, which SQLite leaves off per connection. PostgreSQL gets a bounded pool.

SQLite keeps the sqlite3 driver's default transaction control on purpose: a SELECT runs outside any
transaction and a transaction begins at the first write. So a unit that reads and then writes never
holds an old read snapshot when it asks for the write lock; with an explicit BEGIN it would, and under
WAL that fails at once with "database is locked" whatever the busy timeout (the contract tests' concurrent
sign-ups show it). The price: reads before a unit's first write are not isolated, and SQLite has no row
locks, so on SQLite `Outbox.lock` does not keep two runners of one message apart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000
_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_VIOLATIONS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def create_engine(url: str, pool_size: int = 20, max_overflow: int = 10) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL. Statement parameters are kept
    out of error messages (`hide_parameters`): they hold addresses and hashes, and a bug's traceback is logged."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    # Every process holds up to pool_size + max_overflow connections: size them against PostgreSQL's
    # max_connections (or put PgBouncer in front); connections beyond pool_size are closed after use.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False, hide_parameters=True
    )


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the engine, for ad-hoc queries. SqlUnitOfWork accepts this factory for the engine it is
    bound to, but runs its own Core statements on a connection (see transaction.py), never a session."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine, timeout_seconds: float = 2.0) -> bool:
    """True if the database answers `SELECT 1` within the timeout (the readiness probe's question)."""
    try:
        async with asyncio.timeout(timeout_seconds), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True


def is_unique_violation(exc: IntegrityError) -> bool:
    """True if the statement broke a unique or primary key constraint (a Conflict, not a bug), on either database."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == _PG_UNIQUE_VIOLATION)
    return getattr(exc.orig, "sqlite_errorname", None) in _SQLITE_UNIQUE_VIOLATIONS
