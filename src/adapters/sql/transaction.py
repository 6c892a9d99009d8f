"""One unit of work's transaction: a pooled connection, Core statements, and as few round trips as it can.

The repositories run Core statements here and map plain rows to the domain's dataclasses; there is no ORM
session or identity map. That was most of the CPU a chat request spent on SQL (four units of work per
reply), and nothing is lost: every read builds a fresh domain object anyway.

Writes (an INSERT of one row, an UPDATE of one row by id) are queued, as the ORM's flush queues them, and
run before the unit's next statement or at commit, parents before children: a unit may add a user's
session before the user, as the in-memory store allows. A unique value taken (by this unit or a
concurrent one) surfaces as Conflict from whichever call ran the statement.

On PostgreSQL, round trips are what a unit costs (each is a send, a wake-up and a reply to parse), so:
- plain reads before a unit's first write run outside any transaction (autocommit). Under READ COMMITTED,
  the engine's level, every statement takes a fresh snapshot whether or not it is inside a transaction,
  so such a read sees exactly what it would have seen after a BEGIN; a read-only unit (two of the four per
  chat reply) makes no BEGIN and no ROLLBACK. The first write or locking read begins the transaction.
- queued writes run as one statement (data-modifying CTEs: `WITH w0 AS (INSERT ...), w1 AS (UPDATE ...)
  INSERT ...`), and a unit that only wrote commits that one statement in autocommit, which is atomic on its
  own: no BEGIN, no COMMIT. Foreign keys are checked at the end of the statement, so order does not matter
  there; the sub-statements share one snapshot, so writes that must see each other (an UPDATE of a table
  the batch also inserts into or updates) run one by one inside a transaction instead.
SQLite's driver already reads outside transactions (see engine.py); there the writes run one by one.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Executable,
    FromClause,
    Insert,
    TableClause,
    Update,
    bindparam,
    insert,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.typing import TupleAny

from adapters.sql.direct import (
    CONNECTION_FAILURES,
    DirectConnections,
    Rows,
    compile_direct,
    direct_connections,
    run_direct,
)
from adapters.sql.engine import is_unique_violation
from adapters.sql.tables import metadata
from domain.shared.errors import Conflict

Write = tuple[Insert | Update, Mapping[str, Any]]
Result = CursorResult[*TupleAny] | Rows
"""What a statement returns: rows to read with `first()`, `scalar()` or by iterating."""

# Parents before children: the position of each table in a foreign-key-respecting order.
_WRITE_ORDER: dict[FromClause, int] = {table: index for index, table in enumerate(metadata.sorted_tables)}
# A statement has at most 32,767 parameters on PostgreSQL; batches stay far below that.
_MAX_BATCH = 32

# Per PostgreSQL engine, the same engine (same pool) whose connections start in autocommit.
_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _autocommit_engine_for(engine: AsyncEngine) -> AsyncEngine | None:
    if engine.dialect.name != "postgresql":
        return None
    autocommit = _AUTOCOMMIT.get(engine)
    if autocommit is None:
        autocommit = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return autocommit


class SqlTransaction:
    """The connection is checked out at the first statement (an unused unit costs none) and `close` returns
    it to the pool, rolling back whatever was not committed (and putting it back in the engine's isolation
    level if it was taken in autocommit)."""

    __slots__ = (
        "_autocommit",
        "_autocommit_engine",
        "_clean",
        "_connection",
        "_direct",
        "_driver",
        "_engine",
        "_pending",
        "_pooled",
        "dialect",
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit_engine = _autocommit_engine_for(engine)
        self._connection: AsyncConnection | None = None
        self._pooled: PoolProxiedConnection | None = None
        """A connection taken from the pool without SQLAlchemy's Connection around it, for the statements that
        run straight on asyncpg outside a transaction (adapters/sql/direct.py); `_driver` is its asyncpg side."""
        self._driver: Any = None
        self._clean = True
        """Every direct statement on `_pooled` ended (a result, or the server's error reply)."""
        self._direct: DirectConnections | None = (
            direct_connections(engine) if self._autocommit_engine is not None else None
        )
        self._autocommit = False
        """The connection runs each statement on its own: nothing was written yet."""
        self._pending: list[Write] = []
        self.dialect: str = engine.dialect.name
        """'postgresql' or 'sqlite', for the few statements that differ (ON CONFLICT, sequences)."""

    def write(self, statement: Insert | Update, values: Mapping[str, Any]) -> None:
        """Queue `insert(table)` of one row (`values`: its columns), or `update(table).where(table.c.id ==
        bindparam("key"))` of one row (`values`: `key` and the columns to SET), for the next flush."""
        self._pending.append((statement, values))

    async def flush(self) -> None:
        """Run the queued writes inside the transaction (which this begins, if need be)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        await self._begin()
        await self._run_writes(pending)

    async def read(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Result:
        """Run a plain SELECT (row locks are `execute`'s): in autocommit on PostgreSQL until the unit writes,
        after the queued writes otherwise, so it sees them."""
        if self._pending:
            await self.flush()
        elif self._connection is None:
            if self._autocommit_engine is not None:
                rows = await self._run_direct(statement, parameters or {})
                if rows is not None:
                    return rows
            await self._connect(autocommit=self._autocommit_engine is not None)
        return await self._run(statement, parameters)

    async def execute(self, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Result:
        """Run any statement inside the unit's transaction, after the queued writes."""
        await self.flush()
        await self._begin()
        return await self._run(statement, parameters)

    async def commit(self) -> None:
        if self._pending and self._autocommit_engine is not None and (self._connection is None or self._autocommit):
            batch = self._batch(self._pending)
            if batch is not None:  # the unit's every write, in one statement: atomic without a transaction
                self._pending = []
                if self._connection is None:
                    if await self._run_direct(*batch) is not None:
                        return
                    await self._connect(autocommit=True)
                await self._run(*batch)
                return
        await self.flush()
        if self._connection is not None:
            try:
                await self._connection.commit()
            except IntegrityError as exc:
                if is_unique_violation(exc):
                    raise Conflict() from exc
                raise

    async def rollback(self) -> None:
        self._pending.clear()
        if self._connection is not None:
            await self._connection.rollback()

    async def close(self) -> None:
        self._pending.clear()
        self._autocommit = False
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
        await self._release_pooled()

    # --- connections ---------------------------------------------------------------------------------

    async def _connect(self, *, autocommit: bool) -> None:
        """A SQLAlchemy connection (after giving back the pooled one the direct statements used: a unit never
        holds two, so concurrent units cannot starve the pool waiting for each other)."""
        await self._release_pooled(keep=False)  # back to the pool, where this unit's checkout can take it again
        engine = self._autocommit_engine if autocommit else self._engine
        assert engine is not None
        self._connection = await engine.connect().start()
        self._autocommit = autocommit

    async def _run_direct(self, statement: Executable, values: Mapping[str, Any]) -> Rows | None:
        """Outside a transaction, on a connection of the pool's (adapters/sql/direct.py): asyncpg runs each
        statement on its own (the pool's connections have no transaction open), so no SQLAlchemy Connection,
        isolation switch or BEGIN is needed. None: the statement must go through SQLAlchemy."""
        if self._direct is None:
            return None
        direct = compile_direct(statement, tuple(values), self._engine.dialect)
        if direct is None:
            return None
        if self._pooled is None:
            self._pooled = await self._direct.take()
            self._driver = self._pooled.driver_connection
        self._clean = False
        try:
            rows = await run_direct(self._driver, direct, values)
        except Conflict:
            self._clean = True
            raise
        except DBAPIError as exc:
            if isinstance(exc.orig, CONNECTION_FAILURES):  # a broken connection must not go back to the pool
                pooled, self._pooled, self._driver = self._pooled, None, None
                await greenlet_spawn(pooled.invalidate, exc.orig)
            else:
                self._clean = True  # the server answered with an error; the connection is fine
            raise
        self._clean = True
        return rows

    async def _release_pooled(self, *, keep: bool = True) -> None:
        pooled, self._pooled, self._driver = self._pooled, None, None
        if pooled is not None:
            assert self._direct is not None
            await self._direct.give_back(pooled, keep=keep and self._clean)

    async def _begin(self) -> None:
        """Make the next statement run in the transaction. Leaving autocommit ends SQLAlchemy's bookkeeping
        transaction (nothing was begun on the server, so no round trip) and the driver sends BEGIN with the
        next statement; the pool restores the isolation level when the connection goes back."""
        if self._connection is None:
            await self._connect(autocommit=False)
        elif self._autocommit:
            self._autocommit = False
            isolation_level = self._engine.dialect.default_isolation_level
            assert isolation_level is not None
            await self._connection.commit()
            await self._connection.execution_options(isolation_level=isolation_level)

    # --- statements ----------------------------------------------------------------------------------

    async def _run_writes(self, pending: list[Write]) -> None:
        batch = self._batch(pending)
        if batch is not None:
            await self._run(*batch)
            return
        if len(pending) > 1:
            pending.sort(key=lambda write: _WRITE_ORDER[write[0].table])  # stable: a table's rows keep their order
        for statement, values in pending:
            await self._run(statement, values)

    def _batch(self, pending: list[Write]) -> tuple[Executable, Mapping[str, Any]] | None:
        """The writes as one statement and its parameters, or None where they must run one by one."""
        if len(pending) == 1:
            return pending[0]
        if self.dialect != "postgresql" or len(pending) > _MAX_BATCH:
            return None
        updated = [statement.table for statement, _ in pending if isinstance(statement, Update)]
        if len(set(updated)) < len(updated) or any(
            isinstance(statement, Insert) and statement.table in updated for statement, _ in pending
        ):
            return None
        shape = tuple((statement, tuple(values)) for statement, values in pending)
        parameters = {
            f"w{index}_{key}": value for index, (_, values) in enumerate(pending) for key, value in values.items()
        }
        return _batched_statement(shape), parameters

    async def _run(self, statement: Executable, parameters: Mapping[str, Any] | None) -> Result:
        assert self._connection is not None
        try:
            return await self._connection.execute(statement, parameters)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict() from exc
            raise


@functools.lru_cache(maxsize=256)
def _batched_statement(shape: tuple[tuple[Insert | Update, tuple[str, ...]], ...]) -> Executable:
    """One statement for writes of this shape (statements and parameter names), built once: the last write is
    the main statement, the others its CTEs; write `n`'s parameter `x` is `wn_x`."""
    parts: list[Insert | Update] = []
    for index, (statement, keys) in enumerate(shape):
        table = statement.table
        assert isinstance(table, TableClause)
        if isinstance(statement, Insert):
            parts.append(insert(table).values(_bound(table, index, keys)))
        else:
            row = bindparam(f"w{index}_key", type_=table.c.id.type)
            columns = _bound(table, index, [key for key in keys if key != "key"])
            parts.append(update(table).where(table.c.id == row).values(columns))
    *ctes, main = parts
    return main.add_cte(*(part.cte(f"w{index}") for index, part in enumerate(ctes)))


def _bound(table: TableClause, index: int, columns: Sequence[str]) -> dict[str, BindParameter[Any]]:
    return {column: bindparam(f"w{index}_{column}", type_=table.c[column].type) for column in columns}


def update_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """An object's column values as the parameters of an `update(table).where(table.c.id == bindparam("key"))`:
    the id moves to `key`, and every other value is the SET clause (what is stored is exactly the object)."""
    values["key"] = values.pop("id")
    return values
