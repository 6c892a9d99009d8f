"""The request's principal lookup (application.identity.authenticate.PrincipalLookup) over SQL: one SELECT on a
kept autocommit connection (direct.py), outside any unit of work, since every authenticated request makes it
and a plain transaction's BEGIN, ROLLBACK and pool checkout cost several times the read itself. Statements and
mappers are identity's own (adapters/sql/identity.py), so both paths read a principal the same way."""

from __future__ import annotations

from uuid import UUID

from adapters.sql.direct import KeptConnections
from adapters.sql.identity import (
    API_KEY_WITH_OWNER,
    SESSION_WITH_USER,
    api_key_from_row,
    owner_from_row,
    session_from_row,
)
from domain.identity.model import ApiKey, Session, User


class SqlPrincipalLookup:
    def __init__(self, connections: KeptConnections) -> None:
        self._connections = connections

    async def session_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        async with self._connections.connection() as connection:
            row = (await connection.execute(SESSION_WITH_USER, {"key": session_id})).first()
        return None if row is None else (session_from_row(row), owner_from_row(row))

    async def api_key_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        async with self._connections.connection() as connection:
            row = (await connection.execute(API_KEY_WITH_OWNER, {"key_hash": key_hash})).first()
        return None if row is None else (api_key_from_row(row), owner_from_row(row))
