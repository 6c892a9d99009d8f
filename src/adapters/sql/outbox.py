"""The transactional outbox over SQL. On PostgreSQL, `lock` and `claim_unpublished` take row locks
(SKIP LOCKED for claims, so several relays share the backlog and never publish one row at once);
SQLite has no row locks and SQLAlchemy renders the same statements there as plain SELECTs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, func, insert, select, update

from adapters.sql.tables import outbox
from adapters.sql.transaction import SqlTransaction, update_parameters
from adapters.telemetry.otel_context import current_traceparent
from application.shared.ports import OutboxMessage

# A payload is copied when the row is queued (the INSERT runs at the unit's next statement or commit), so a
# caller changing the message meanwhile does not change what is stored; reads decode a fresh one each time.


def message_values(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "topic": message.topic,
        "payload": copy.deepcopy(dict(message.payload)),
        "created_at": message.created_at,
        "published_at": message.published_at,
        "done_at": message.done_at,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "trace_context": message.trace_context,
    }


def new_message_values(message: OutboxMessage) -> dict[str, Any]:
    """`message_values` of a message being written: with the trace it is written in, when it names none (so
    its job continues that trace)."""
    values = message_values(message)
    if values["trace_context"] is None:
        values["trace_context"] = current_traceparent()
    return values


def message_from_row(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        topic=row.topic,
        payload=row.payload,
        created_at=row.created_at,
        published_at=row.published_at,
        done_at=row.done_at,
        attempts=row.attempts,
        last_error=row.last_error,
        trace_context=row.trace_context,
    )


_ADD = insert(outbox)
_MESSAGE = select(outbox).where(outbox.c.id == bindparam("key"))
_LOCKED = _MESSAGE.with_for_update()
_UNPUBLISHED = select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id)
_PENDING = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
_OLDEST_PENDING = select(func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
_UPDATE = update(outbox).where(outbox.c.id == bindparam("key"))


class SqlOutbox:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, message: OutboxMessage) -> None:
        self._tx.write(_ADD, new_message_values(message))

    async def get(self, message_id: UUID) -> OutboxMessage | None:
        row = (await self._tx.read(_MESSAGE, {"key": message_id})).first()
        return None if row is None else message_from_row(row)

    async def lock(self, message_id: UUID) -> OutboxMessage | None:
        row = (await self._tx.execute(_LOCKED, {"key": message_id})).first()
        return None if row is None else message_from_row(row)

    async def claim_unpublished(self, limit: int) -> Sequence[OutboxMessage]:
        rows = await self._tx.execute(_UNPUBLISHED.limit(limit).with_for_update(skip_locked=True))
        return [message_from_row(row) for row in rows]

    async def count_unpublished(self) -> int:
        return int((await self._tx.read(_PENDING)).scalar_one())

    async def oldest_unpublished_at(self) -> datetime | None:
        oldest: datetime | None = (await self._tx.read(_OLDEST_PENDING)).scalar_one()
        return oldest

    async def update(self, message: OutboxMessage) -> None:
        self._tx.write(_UPDATE, update_parameters(message_values(message)))
