"""The analytics context's ports: the database's fact log as analytics reads it, the record of what was
exported, the archive the export writes (date-partitioned Parquet), and the unit of work that holds the first
two."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from application.shared.facts import Fact, FactKind, FactLog
from application.shared.ports import UnitOfWork


class FactStore(FactLog, Protocol):
    """The facts still in the database (the tail not yet exported, and exported ones inside the retention
    window)."""

    async def between(self, start: datetime | None, end: datetime | None, limit: int | None = None) -> Sequence[Fact]:
        """Facts with start <= occurred_at < end (an open bound when None), oldest first."""
        ...

    async def delete_before(self, cutoff: datetime) -> int:
        """Delete the facts that occurred before `cutoff`; how many went."""
        ...


@dataclass(frozen=True, kw_only=True)
class ExportRecord:
    """One UTC day's last export: when it ran, the newest occurred_at it wrote (None for a day without
    facts), how many facts it wrote (every kind), and when the day's facts left the database (None while
    they are still there)."""

    day: date
    exported_at: datetime
    through: datetime | None
    facts: int
    purged_at: datetime | None = None


class ExportLog(Protocol):
    """The `analytics_exports` table: one record per exported day."""

    async def save(self, record: ExportRecord) -> None:
        """Record the day's export, replacing the day's earlier record."""
        ...

    async def since(self, day: date | None) -> Sequence[ExportRecord]:
        """The records of `day` and the days after it (every record when None), oldest day first."""
        ...

    async def mark_purged(self, before: date, at: datetime) -> int:
        """Set purged_at on the records of the days before `before` that have none; how many changed."""
        ...


class AnalyticsUnitOfWork(UnitOfWork, Protocol):
    @property
    def facts(self) -> FactStore: ...

    @property
    def exports(self) -> ExportLog: ...


class FactArchive(Protocol):
    """Where exported facts live: one file per (kind, UTC day), with the kind's typed columns."""

    async def write_day(self, kind: FactKind, day: date, facts: Sequence[Fact]) -> None:
        """Replace the kind's file of `day` with `facts` (all of that kind and day) in one step: a reader
        sees the old file or the new one, never a part. No facts: the day's file of that kind goes."""
        ...

    async def days(self, kind: FactKind) -> Sequence[date]:
        """The days the kind has a file for, oldest first."""
        ...

    async def read_day(self, kind: FactKind, day: date) -> Sequence[Fact]:
        """The facts of the kind's file of `day` (none when it has no file), oldest first."""
        ...
