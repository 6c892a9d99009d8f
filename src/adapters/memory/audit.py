"""In-memory audit log: entries land with the unit of work's commit, like every other table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from adapters.memory.database import TableView
from application.shared.audit import ALL, AuditEntry, AuditQuery


class InMemoryAuditLog(TableView):
    table = "audit_log"

    async def record(self, entry: AuditEntry) -> None:
        self._put(entry.id, entry)

    async def list(
        self, query: AuditQuery = ALL, limit: int = 20, before: tuple[datetime, UUID] | None = None
    ) -> Sequence[AuditEntry]:
        entries: list[AuditEntry] = [
            entry
            for entry in self._rows()
            if (query.actor_id is None or entry.actor_id == query.actor_id)
            and (query.target_id is None or entry.target_id == query.target_id)
            and (query.action is None or entry.action == query.action)
            and (before is None or (entry.created_at, entry.id.int) < (before[0], before[1].int))
        ]
        entries.sort(key=lambda entry: (entry.created_at, entry.id.int), reverse=True)
        return entries[:limit]
