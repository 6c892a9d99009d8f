from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from adapters.memory.database import TableView
from application.shared.ports import OutboxMessage


class InMemoryOutbox(TableView):
    table = "outbox"

    async def add(self, message: OutboxMessage) -> None:
        self._put(message.id, message)

    async def get(self, message_id: UUID) -> OutboxMessage | None:
        message: OutboxMessage | None = self._get(message_id)
        return message

    async def lock(self, message_id: UUID) -> OutboxMessage | None:
        return await self.get(message_id)  # no row locks in memory

    async def claim_unpublished(self, limit: int) -> Sequence[OutboxMessage]:
        pending = [m for m in self._rows() if m.published_at is None]
        return sorted(pending, key=lambda m: m.id.int)[:limit]

    async def count_unpublished(self) -> int:
        return sum(1 for m in self._rows() if m.published_at is None)

    async def oldest_unpublished_at(self) -> datetime | None:
        return min((m.created_at for m in self._rows() if m.published_at is None), default=None)

    async def update(self, message: OutboxMessage) -> None:
        self._put(message.id, message)
