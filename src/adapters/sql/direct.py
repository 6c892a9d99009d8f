"""Connections kept open between calls, for the reads and writes every chat request makes outside any unit of
work: the chat store's statements (chat_store.py) and the request's principal lookup (principals.py); and, on
PostgreSQL, the one way those two send a statement straight to asyncpg (`KeptConnections.fetch`).

Checking a connection out of SQLAlchemy's pool and back in costs more CPU than the statement it runs (about
0.18 ms a call on a 2-core VM, against 0.16 ms for the statement itself, measured with the principal lookup),
so up to `keep` connections wait here between calls instead: three quarters of the pool (the rest is for units
of work). A chat request makes three such calls, and on a busy event loop a call holds its connection until the
loop comes back to it, so at 32 concurrent streams most requests are in one at any moment: a cap of 16 sent the
calls beyond it through the pool, which cost 6-7% of the server's CPU a reply (bench/cpu_per_request.py at
c=32, two runs of eight rounds). No more are kept than calls ever overlapped. They are
in autocommit (each statement commits on its own: these are single statements), count against the pool's
size, and are closed by `aclose`. A connection goes back only if nothing went wrong on it that could leave it
in doubt: one that SQLAlchemy or the chat store invalidated (a connection failure), or whose call was
cancelled mid-statement, is closed instead, and the pool's own reset repairs or drops it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.shared.errors import Conflict

CONNECTION_FAILURES = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)
"""Driver errors after which the connection is not fit to go back to the pool."""


class KeptConnections:
    def __init__(self, engine: AsyncEngine, keep: int | None = None) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        size = getattr(engine.pool, "size", None)
        self._keep = keep if keep is not None else max(1, size() * 3 // 4 if callable(size) else 1)
        self._kept: list[AsyncConnection] = []
        self.dialect_name = engine.dialect.name

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        connection = self._kept.pop() if self._kept else await self._engine.connect()
        reusable = False
        try:
            yield connection
            reusable = True
        except Exception:
            reusable = True  # the server's answer (a constraint, a bug): the connection is fine, unless invalidated
            raise
        finally:  # a BaseException (cancellation) leaves `reusable` False
            if reusable and not connection.invalidated and not connection.closed and len(self._kept) < self._keep:
                self._kept.append(connection)
            else:
                await connection.close()

    async def fetch(self, statement: DriverStatement, values: Mapping[str, Any]) -> list[asyncpg.Record]:
        """PostgreSQL only: one statement sent straight to asyncpg on a kept connection (asyncpg prepares it once
        per connection), its rows as asyncpg returns them. A unique violation is a Conflict; any other driver
        error surfaces as SQLAlchemy's DBAPIError (its `.orig` is asyncpg's exception); a connection that failed,
        or whose statement was cancelled mid-way, is invalidated rather than handed to the next caller."""
        arguments = statement.arguments(values)
        async with self.connection() as connection:
            driver: Any = connection.info.get("asyncpg")  # asyncpg's side of the connection, looked up once
            if driver is None:
                driver = connection.info["asyncpg"] = (await connection.get_raw_connection()).driver_connection
            try:
                records: list[asyncpg.Record] = await driver.fetch(statement.sql, *arguments)
            except asyncpg.UniqueViolationError as exc:
                raise Conflict() from DBAPIError(statement.sql, arguments, exc, hide_parameters=True)
            except CONNECTION_FAILURES as exc:
                await connection.invalidate(exc)
                raise DBAPIError(statement.sql, arguments, exc, hide_parameters=True) from exc
            except asyncpg.PostgresError as exc:  # the server's answer: the connection is fine
                raise DBAPIError(statement.sql, arguments, exc, hide_parameters=True) from exc
            except BaseException:  # cancelled mid-statement: the connection's state is unknown
                await connection.invalidate(None)
                raise
        return records

    async def aclose(self) -> None:
        kept, self._kept = self._kept, []
        for connection in kept:
            await connection.close()


class DriverStatement:
    """SQL for asyncpg written with named parameters (`:name`, each name numbered once as `$n`)."""

    __slots__ = ("names", "sql")

    def __init__(self, template: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = re.sub(r"(?<![:\w]):(\w+)", number, " ".join(template.split()))
        self.names = tuple(names)

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The values in the statement's order: what asyncpg takes (a role as its string, UUIDs, aware datetimes;
        JSON as text)."""
        return [values[name] for name in self.names]
