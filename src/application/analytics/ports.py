"""The analytics context's ports: the database's fact log as analytics reads it, the record of what was
exported, the archive the export writes (date-partitioned Parquet), the unit of work that holds the first two,
and the questions the analytics routes ask of the facts."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from application.analytics.answers import (
    ActivePoint,
    Answered,
    Cohort,
    GrowthPoint,
    MarginPoint,
    MessagePoint,
    MrrPoint,
    ProviderPerformance,
    ProviderPoint,
    ProviderUsage,
    RevenuePoint,
    UserCount,
)
from application.analytics.range import DateRange, Interval
from application.shared.facts import Fact, FactKind, FactLog
from application.shared.ports import UnitOfWork

FactPosition = tuple[datetime, UUID]
"""A fact's place in the fact store's order: (occurred_at, id)."""


class FactStore(FactLog, Protocol):
    """The facts still in the database (the tail not yet exported, and exported ones inside the retention
    window)."""

    async def between(
        self,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        *,
        after: FactPosition | None = None,
    ) -> Sequence[Fact]:
        """Facts with start <= occurred_at < end (an open bound when None), oldest first: ordered by
        (occurred_at, id), and only those past `after` in that order (a keyset page: the last position of
        the page before)."""
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


class DayFiles(Protocol):
    """One day's new files while they are written: facts go in a page at a time, and none is held in
    Python after `add` returns (a day of any size exports in the memory of one page)."""

    async def add(self, facts: Sequence[Fact]) -> None:
        """Stage `facts` (of any kinds, all of the day being written)."""
        ...

    async def publish(self) -> None:
        """Put every kind's new file in place of the old one, each in one step: a reader sees a kind's old
        file or its new one, never a part."""
        ...


class FactArchive(Protocol):
    """Where exported facts live: one file per (kind, UTC day), with the kind's typed columns."""

    def rewrite_day(self, day: date) -> AbstractAsyncContextManager[DayFiles]:
        """The day's files written again from the facts added to the DayFiles it yields: once `publish`
        is called, each kind's file of `day` holds the facts of that kind added (the day's file of a kind
        with none goes). Leaving without publishing leaves the day's files as they were."""
        ...

    async def days(self, kind: FactKind) -> Sequence[date]:
        """The days the kind has a file for, oldest first."""
        ...

    async def read_day(self, kind: FactKind, day: date) -> Sequence[Fact]:
        """The facts of the kind's file of `day` (none when it has no file), oldest first."""
        ...

    async def roll_up(self, before: date, changed: date | None) -> None:
        """Bring the archive's rollups (pre-aggregated figures the questions read instead of the raw facts) up
        to `before`: every day before it is completely archived, and its facts will not change. `changed` is
        the earliest day the export just rewrote (None: none): rollups from it on are computed again."""
        ...


class AnalyticsQueries(Protocol):
    """One method per analytics question, each over the facts of a range (series: one point per bucket of
    the interval, every bucket present). The definitions are in docs/analytics.md."""

    async def user_count(self, span: DateRange) -> Answered[UserCount]: ...
    async def user_growth(self, span: DateRange, interval: Interval) -> Answered[list[GrowthPoint]]: ...
    async def active_users(self, span: DateRange, interval: Interval) -> Answered[list[ActivePoint]]: ...
    async def retention(self, span: DateRange) -> Answered[list[Cohort]]: ...
    async def messages(self, span: DateRange, interval: Interval) -> Answered[list[MessagePoint]]: ...
    async def messages_by_provider(self, span: DateRange, interval: Interval) -> Answered[list[ProviderPoint]]: ...
    async def revenue(self, span: DateRange, interval: Interval) -> Answered[list[RevenuePoint]]: ...
    async def mrr(self, span: DateRange, interval: Interval) -> Answered[list[MrrPoint]]: ...
    async def margin(self, span: DateRange, interval: Interval) -> Answered[list[MarginPoint]]: ...
    async def provider_usage(self, span: DateRange) -> Answered[list[ProviderUsage]]: ...
    async def provider_performance(self, span: DateRange) -> Answered[list[ProviderPerformance]]: ...
