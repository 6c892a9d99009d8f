"""The request's principal lookup (application.identity.authenticate.PrincipalLookup) over SQL: one SELECT on a
kept autocommit connection (direct.py), outside any unit of work, since every authenticated request makes it
and a plain transaction's BEGIN, ROLLBACK and pool checkout cost several times the read itself.

On PostgreSQL the SELECT goes straight to asyncpg (`KeptConnections.fetch`), as the chat store's statements do:
it is the one read on every chat request's path, and SQLAlchemy's async execution of it (the greenlet hand-over,
the compiled-statement cache, the result's processing) cost 0.36 ms of CPU in the server against 0.15 ms
straight (measured inside `parley serve` under the chat benchmark's load: bench/README.md "Concurrency 1, the
principal lookup"), more than a tenth of a whole chat request. Its SQL is built from identity's own tables and
the rows are read by identity's own mappers (adapters/sql/identity.py), so both paths read a principal the same
way; elsewhere (SQLite) it runs identity's Core statements."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Table

from adapters.sql.direct import DriverStatement, KeptConnections
from adapters.sql.identity import (
    API_KEY_WITH_OWNER,
    SESSION_WITH_USER,
    api_key_from_row,
    owner_from_row,
    session_from_row,
)
from adapters.sql.tables import api_keys, sessions, users
from domain.identity.model import ApiKey, Session, User


class SqlPrincipalLookup:
    def __init__(self, connections: KeptConnections) -> None:
        self._connections = connections
        self._direct = connections.dialect_name == "postgresql"

    async def session_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        if self._direct:
            records = await self._connections.fetch(_SESSION_WITH_USER, {"key": session_id})
            return None if not records else (session_from_row(_Row(records[0])), owner_from_row(_Row(records[0])))
        async with self._connections.connection() as connection:
            row = (await connection.execute(SESSION_WITH_USER, {"key": session_id})).first()
        return None if row is None else (session_from_row(row), owner_from_row(row))

    async def api_key_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        if self._direct:
            records = await self._connections.fetch(_API_KEY_WITH_OWNER, {"key_hash": key_hash})
            return None if not records else (api_key_from_row(_Row(records[0])), owner_from_row(_Row(records[0])))
        async with self._connections.connection() as connection:
            row = (await connection.execute(API_KEY_WITH_OWNER, {"key_hash": key_hash})).first()
        return None if row is None else (api_key_from_row(row), owner_from_row(row))


def _with_owner(table: Table, key_column: str, parameter: str) -> DriverStatement:
    """`table`'s columns and its user's, labelled `u_<column>` as identity's Core statements label them."""
    columns = [f"t.{column.name}" for column in table.c] + [f"u.{column.name} AS u_{column.name}" for column in users.c]
    return DriverStatement(
        f"SELECT {', '.join(columns)} FROM {table.name} t JOIN users u ON u.id = t.user_id"  # noqa: S608
        f" WHERE t.{key_column} = :{parameter}"
    )


_SESSION_WITH_USER = _with_owner(sessions, "id", "key")
_API_KEY_WITH_OWNER = _with_owner(api_keys, "key_hash", "key_hash")


class _Row:
    """An asyncpg record read as the mappers read a SQLAlchemy row (`row.name`), asyncpg's UUIDs as the standard
    library's."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        value = self._record[name]
        return UUID(int=value.int) if isinstance(value, UUID) and type(value) is not UUID else value
