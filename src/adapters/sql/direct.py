"""Statements run straight on asyncpg, for what a chat request runs on every call.

SQLAlchemy's execution path (a Connection per unit, an execution context, a cursor adapter, a greenlet
switch and a result object per statement) was a fifth of a chat request's CPU once round trips were cut to
three per reply. For the statements a unit runs outside a transaction (plain reads before its first write,
and a write-only unit's single statement) none of it is needed: each Core statement is compiled once, by
SQLAlchemy, for the PostgreSQL dialect, and run with asyncpg's `fetch` on a connection taken from
SQLAlchemy's pool (SqlTransaction._run_direct), with the same bind and result processors SQLAlchemy would
apply (the column types' own conversions: UUIDs, UTC datetimes). Rows come back as named tuples, so the
repositories read them exactly as they read SQLAlchemy's rows.

The connections come from SQLAlchemy's pool and, between units, wait in `DirectConnections` instead of going
back: a pool checkout and checkin each take a greenlet switch and the pool's bookkeeping (together ~0.09 ms,
a tenth of a chat request's time in the database).

What does not fit that plan (expanding IN lists, Python-side column defaults, anything inside a transaction)
runs through SQLAlchemy as before. A unique violation is a Conflict, as on the other path; any other driver
error surfaces as SQLAlchemy's DBAPIError, which the HTTP layer answers with 503, and a connection that broke
is dropped from the pool rather than handed to the next unit."""

from __future__ import annotations

import functools
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Executable, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from domain.shared.errors import Conflict

Processor = Callable[[Any], Any] | None
CONNECTION_FAILURES = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.InternalClientError,  # e.g. a statement sent while the server's "terminating connection" arrives
    OSError,
)
"""Driver errors after which the connection is not fit to go back to the pool."""
MAX_KEPT = 8
"""Connections kept aside at most, per engine (fewer for a small pool): enough for the direct statements of
dozens of concurrent requests, each of which holds one for a round trip or two."""


class DirectConnections:
    """The pooled connections the direct statements run on. `take` hands out one kept aside from an earlier
    unit, or checks one out of the pool; `give_back` keeps it for the next unit (up to `keep`) or checks it
    back in. Only a connection whose statements all ended (no exception but a server's error reply) is kept: a
    unit cancelled mid-statement gives its connection back to the pool, whose reset repairs or drops it; so
    does a unit that goes on into a transaction, whose own checkout then finds it there. Kept connections
    count against the pool's size, so `keep` stays a fraction of it, and the engine's `dispose` closes them
    with the rest."""

    def __init__(self, engine: Engine, keep: int) -> None:
        self._engine = engine
        self._keep = keep
        self._kept: list[PoolProxiedConnection] = []
        event.listen(engine, "engine_disposed", self._close_kept)

    async def take(self) -> PoolProxiedConnection:
        if self._kept:
            return self._kept.pop()
        return await greenlet_spawn(self._engine.raw_connection)

    async def give_back(self, pooled: PoolProxiedConnection, *, keep: bool) -> None:
        """Keep it for the next unit if `keep` (and there is room), else check it back in to the pool."""
        if keep and len(self._kept) < self._keep and pooled.is_valid:
            self._kept.append(pooled)
        else:
            await greenlet_spawn(pooled.close)

    def _close_kept(self, _engine: Engine) -> None:
        kept, self._kept = self._kept, []
        for pooled in kept:
            pooled.invalidate()  # closes the driver's connection (dispose runs in a greenlet) and checks it in


_DIRECT: weakref.WeakKeyDictionary[AsyncEngine, DirectConnections] = weakref.WeakKeyDictionary()


def direct_connections(engine: AsyncEngine) -> DirectConnections:
    """The engine's DirectConnections (one per engine; it holds the sync engine only, so the entry goes with
    the engine)."""
    connections = _DIRECT.get(engine)
    if connections is None:
        size = getattr(engine.pool, "size", lambda: MAX_KEPT * 2)()
        connections = _DIRECT[engine] = DirectConnections(engine.sync_engine, max(1, min(MAX_KEPT, size // 2)))
    return connections


class DirectStatement:
    """A statement compiled once: its SQL, the order of its parameters and their processors, and the row type."""

    __slots__ = ("binds", "processors", "row", "sql")

    def __init__(
        self, sql: str, binds: Sequence[tuple[str, Processor]], row: type[Any], processors: Sequence[Processor]
    ) -> None:
        self.sql = sql
        self.binds = tuple(binds)
        self.row = row
        self.processors = tuple(processors) if any(processors) else ()

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        return [parameters[name] if process is None else process(parameters[name]) for name, process in self.binds]

    def rows(self, records: list[asyncpg.Record]) -> Rows:
        make = self.row._make
        processors = self.processors
        if not processors:
            return Rows(make(record) for record in records)
        return Rows(
            make(
                value if process is None else process(value) for process, value in zip(processors, record, strict=True)
            )
            for record in records
        )


class Rows(list[Any]):
    """The part of SQLAlchemy's result the repositories use."""

    def first(self) -> Any:
        return self[0] if self else None

    def scalar(self) -> Any:
        return self[0][0] if self else None


@functools.lru_cache(maxsize=1024)
def compile_direct(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> DirectStatement | None:
    """The statement ready for asyncpg, or None where it must go through SQLAlchemy."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        or getattr(compiled, "insert_prefetch", None)
        or getattr(compiled, "update_prefetch", None)
        or compiled.positiontup is None
        or any(bind.expanding for bind in compiled.binds.values())
        or not set(compiled.positiontup) <= set(keys)
    ):
        return None
    bind_processors = compiled._bind_processors  # SQLAlchemy's own per-parameter conversions
    binds = [(name, bind_processors.get(name)) for name in compiled.positiontup]
    columns = compiled._result_columns  # the selected (or RETURNING) columns
    row = namedtuple("Row", [column.keyname for column in columns], rename=True)  # type: ignore[misc]
    processors = [column.type._cached_result_processor(dialect, None) for column in columns]
    return DirectStatement(compiled.string, binds, row, processors)


async def run_direct(driver: asyncpg.Connection, statement: DirectStatement, parameters: Mapping[str, Any]) -> Rows:
    arguments = statement.arguments(parameters)
    try:
        records = await driver.fetch(statement.sql, *arguments)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict() from exc
    except (asyncpg.PostgresError, *CONNECTION_FAILURES) as exc:
        raise DBAPIError(statement.sql, arguments, exc, hide_parameters=True) from exc
    return statement.rows(records)
