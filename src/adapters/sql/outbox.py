"""The transactional outbox over SQL. On PostgreSQL, `lock` and `claim_unpublished` take row locks
(SKIP LOCKED for claims, so several relays share the backlog and never publish one row at once);
SQLite has no row locks and SQLAlchemy renders the same statements there as plain SELECTs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql.tables import OutboxRow
from application.shared.ports import OutboxMessage


def message_to_row(message: OutboxMessage) -> OutboxRow:
    return OutboxRow(
        id=message.id,
        topic=message.topic,
        payload=copy.deepcopy(dict(message.payload)),
        created_at=message.created_at,
        published_at=message.published_at,
        done_at=message.done_at,
        attempts=message.attempts,
        last_error=message.last_error,
    )


def message_from_row(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        topic=row.topic,
        payload=copy.deepcopy(row.payload),
        created_at=row.created_at,
        published_at=row.published_at,
        done_at=row.done_at,
        attempts=row.attempts,
        last_error=row.last_error,
    )


# Payloads are copied both ways: a caller mutating a message's payload must not change the row this
# session holds (nor a row another read returned), just as plain reads and writes behave elsewhere.


class SqlOutbox:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, message: OutboxMessage) -> None:
        self._session.add(message_to_row(message))

    async def get(self, message_id: UUID) -> OutboxMessage | None:
        row = await self._session.get(OutboxRow, message_id)
        return None if row is None else message_from_row(row)

    async def lock(self, message_id: UUID) -> OutboxMessage | None:
        # populate_existing: what the lock protects is the row as it is now, not as this session last saw it.
        row = await self._session.scalar(
            select(OutboxRow)
            .where(OutboxRow.id == message_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return None if row is None else message_from_row(row)

    async def claim_unpublished(self, limit: int) -> Sequence[OutboxMessage]:
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return [message_from_row(row) for row in rows]

    async def update(self, message: OutboxMessage) -> None:
        await self._session.merge(message_to_row(message))
