"""The audit log over SQL: inserts only (no statement here updates or deletes an entry), and keyset pages
along the (created_at, id) indexes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, insert, select, tuple_

from adapters.sql.tables import audit_log
from adapters.sql.transaction import SqlTransaction
from application.shared.audit import ALL, AuditEntry, AuditQuery

_ADD_ENTRY = insert(audit_log)


def entry_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "target_id": entry.target_id,
        "details": dict(entry.details),
        "created_at": entry.created_at,
    }


def entry_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        actor_id=row.actor_id,
        actor=row.actor,
        action=row.action,
        target_id=row.target_id,
        details=row.details,
        created_at=row.created_at,
    )


class SqlAuditLog:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def record(self, entry: AuditEntry) -> None:
        self._tx.write(_ADD_ENTRY, entry_values(entry))

    async def list(
        self, query: AuditQuery = ALL, limit: int = 20, before: tuple[datetime, UUID] | None = None
    ) -> Sequence[AuditEntry]:
        statement = select(audit_log)
        for column, value in (("actor_id", query.actor_id), ("target_id", query.target_id), ("action", query.action)):
            if value is not None:
                statement = statement.where(audit_log.c[column] == value)
        if before is not None:
            # A plain tuple, so each value is bound through its column's type (UTC, uuid).
            statement = statement.where(tuple_(audit_log.c.created_at, audit_log.c.id) < before)
        statement = statement.order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc()).limit(limit)
        return [entry_from_row(row) for row in await self._tx.read(statement)]
