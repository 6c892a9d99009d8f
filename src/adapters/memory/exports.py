"""In-memory record of the analytics exports: one row per day, replaced by the day's next export."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime

from adapters.memory.database import TableView
from application.analytics.ports import ExportRecord


class InMemoryExportLog(TableView):
    table = "analytics_exports"

    async def save(self, record: ExportRecord) -> None:
        self._put(record.day, record)

    async def since(self, day: date | None) -> Sequence[ExportRecord]:
        return sorted(
            (record for record in self._rows() if day is None or record.day >= day), key=lambda record: record.day
        )

    async def mark_purged(self, before: date, at: datetime) -> int:
        changed = [record for record in self._rows() if record.day < before and record.purged_at is None]
        for record in changed:
            self._put(record.day, dataclasses.replace(record, purged_at=at))
        return len(changed)
