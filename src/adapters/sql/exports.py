"""The record of the analytics exports over SQL: one row per day, upserted by the day's next export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from adapters.sql.tables import analytics_exports
from adapters.sql.transaction import SqlTransaction
from application.analytics.ports import ExportRecord


def _record(row: Row[Any]) -> ExportRecord:
    return ExportRecord(
        day=row.day, exported_at=row.exported_at, through=row.through, facts=row.facts, purged_at=row.purged_at
    )


class SqlExportLog:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def save(self, record: ExportRecord) -> None:
        # One runner at a time exports (the export lock): a delete and an insert replace the day's row.
        await self._tx.execute(delete(analytics_exports).where(analytics_exports.c.day == record.day))
        await self._tx.execute(
            insert(analytics_exports),
            {
                "day": record.day,
                "exported_at": record.exported_at,
                "through": record.through,
                "facts": record.facts,
                "purged_at": record.purged_at,
            },
        )

    async def since(self, day: date | None) -> Sequence[ExportRecord]:
        statement = select(analytics_exports).order_by(analytics_exports.c.day)
        if day is not None:
            statement = statement.where(analytics_exports.c.day >= day)
        return [_record(row) for row in await self._tx.read(statement)]

    async def mark_purged(self, before: date, at: datetime) -> int:
        result = await self._tx.execute(
            update(analytics_exports)
            .where(analytics_exports.c.day < before, analytics_exports.c.purged_at.is_(None))
            .values(purged_at=at)
        )
        return result.rowcount
