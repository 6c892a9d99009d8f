"""One unit of work's transaction: a pooled connection and Core statements, nothing clever.

The connection is checked out at the unit's first statement (an unused unit costs none). On PostgreSQL the
transaction begins with that statement (asyncpg's BEGIN); on SQLite the driver begins it before the first
write, so a unit that reads and then writes never holds an old read snapshot when it asks for the write lock
(see engine.py). `commit` ends it; `close` rolls back whatever was not committed and returns the connection.
A unique value taken, by this unit or a concurrent one, surfaces as Conflict from the statement that hit it.

Repositories run their statements with `read` (a SELECT) and `execute` (anything, a write included), each at
once, inside the transaction. `write` is the synchronous form some repositories still use (it cannot run
anything itself): its statement runs, one by one, before the unit's next statement or at commit, parents'
rows before their children's (so a unit may add a user's session before the user, as the in-memory store
allows); `flush` runs them now. Nothing is batched and no statement runs outside the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import CursorResult, Executable, Insert, Update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.typing import TupleAny

from adapters.sql.engine import is_unique_violation
from adapters.sql.tables import metadata
from domain.shared.errors import Conflict

Result = CursorResult[*TupleAny]
"""What a statement returns: rows to read with `first()`, `scalar()` or by iterating."""
_PARENTS_FIRST = {table: index for index, table in enumerate(metadata.sorted_tables)}


class SqlTransaction:
    __slots__ = ("_connection", "_deferred", "_engine", "dialect")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._deferred: list[tuple[Insert | Update, Mapping[str, Any]]] = []
        self.dialect: str = engine.dialect.name
        """'postgresql' or 'sqlite', for the few statements that differ (ON CONFLICT, sequences)."""

    async def read(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Result:
        """Run a SELECT (row locks are `execute`'s, though nothing stops a read from taking one)."""
        return await self.execute(statement, parameters)

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Result:
        """Run any statement, now, inside the unit's transaction."""
        await self.flush()
        return await self._run(statement, parameters)

    def write(self, statement: Insert | Update, values: Mapping[str, Any]) -> None:
        """`insert(table)` of one row (`values`: its columns), or `update(table).where(table.c.id ==
        bindparam("key"))` of one row (`values`: `key` and the columns to SET), run before the unit's next
        statement or at commit. Prefer `await execute(statement, values)`, which runs it at once."""
        self._deferred.append((statement, values))

    async def flush(self) -> None:
        """Run what `write` left for later: parents first, each table's rows in the order written."""
        deferred, self._deferred = self._deferred, []
        deferred.sort(key=lambda write: _PARENTS_FIRST[write[0].table])  # type: ignore[index]
        for statement, values in deferred:
            await self._run(statement, values)

    async def commit(self) -> None:
        await self.flush()
        if self._connection is not None:
            try:
                await self._connection.commit()
            except IntegrityError as exc:
                if is_unique_violation(exc):
                    raise Conflict() from exc
                raise

    async def rollback(self) -> None:
        self._deferred.clear()
        if self._connection is not None:
            await self._connection.rollback()

    async def close(self) -> None:
        """Roll back what was not committed and give the connection back to the pool."""
        self._deferred.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _run(self, statement: Executable, parameters: Mapping[str, Any] | None) -> Result:
        if self._connection is None:
            self._connection = await self._engine.connect()
        try:
            return await self._connection.execute(statement, parameters)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict() from exc
            raise


def update_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """An object's column values as the parameters of an `update(table).where(table.c.id == bindparam("key"))`:
    the id moves to `key`, and every other value is the SET clause (what is stored is exactly the object)."""
    values["key"] = values.pop("id")
    return values
