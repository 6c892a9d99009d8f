"""ExportFacts: write the database's facts to the archive, one file per (kind, UTC day), and record each
day's export; PurgeExportedFacts: delete from the database the facts of days completely exported once they
are older than the retention window. Both run under one lock (`ANALYTICS_EXPORT_LOCK`), so one runner at a
time does either, however many processes schedule them.

Re-exporting a day replaces its files with what the database holds for it now (idempotent). A day whose
facts already left the database is never exported again (its files would come out empty): its files stay.
After the days, the archive's rollups are brought up to the first day not completely archived (and
computed again from the earliest day rewritten), so they always cover complete days only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from application.analytics.coverage import ONE_DAY, archived_before, day_of, day_start, is_complete
from application.analytics.pages import PAGE_SIZE, fact_pages
from application.analytics.ports import AnalyticsUnitOfWork, ExportRecord, FactArchive
from application.shared.locks import RunLock
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput

log = logging.getLogger("parley.analytics")
ANALYTICS_EXPORT_LOCK = "analytics-export"


@dataclass(frozen=True)
class DayExport:
    day: date
    facts: int
    """Facts written for the day (every kind); -1 when the day was left alone (`kept`)."""
    kept: bool = False
    """The day's facts have left the database: its files were kept as they are."""


@dataclass(frozen=True)
class ExportRun:
    ran: bool
    """False: another runner held the lock, and nothing was done."""
    days: Sequence[DayExport] = field(default_factory=tuple)
    purged: int = 0
    """Facts deleted from the database by the retention."""


class ExportFacts:
    def __init__(
        self,
        uow_factory: Callable[[], AnalyticsUnitOfWork],
        archive: FactArchive,
        lock: RunLock,
        clock: Clock,
        *,
        late: timedelta,
        on_exported: Callable[[], None] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._uow_factory = uow_factory
        self._page_size = page_size
        self._archive = archive
        self._lock = lock
        self._clock = clock
        self._late = late
        self._on_exported = on_exported

    async def __call__(self, start: date | None = None, end: date | None = None) -> ExportRun:
        """Export the days start..end (inclusive; end defaults to today, never later than today); with no
        start: every day with facts in the database not yet completely exported, and today so far."""
        today = day_of(self._clock.now())
        if start is not None and start > (end or today):
            raise InvalidInput("from", "must not be after to")
        async with self._lock.hold(ANALYTICS_EXPORT_LOCK) as held:
            if not held:
                log.info("analytics.export_skipped", extra={"reason": "another export is running"})
                return ExportRun(ran=False)
            return ExportRun(ran=True, days=await self.run_locked(start, end))

    async def run_locked(self, start: date | None, end: date | None) -> list[DayExport]:
        """The export itself, for a caller that holds the lock."""
        today = day_of(self._clock.now())
        last = min(end or today, today)
        async with self._uow_factory() as uow:
            oldest = await uow.facts.between(None, None, limit=1)
            first = start if start is not None else (day_of(oldest[0].occurred_at) if oldest else last)
            records = {record.day: record for record in await uow.exports.since(first)}
        done: list[DayExport] = []
        day = first
        while day <= last:
            record = records.get(day)
            if record is not None and record.purged_at is not None:
                if start is not None:
                    done.append(DayExport(day, -1, kept=True))
            elif start is not None or day == today or not is_complete(record, self._late):
                done.append(DayExport(day, await self._export_day(day)))
            day += ONE_DAY
        await self._roll_up(min((export.day for export in done if not export.kept), default=None))
        if done and self._on_exported is not None:
            self._on_exported()
        return done

    async def _roll_up(self, changed: date | None) -> None:
        """Bring the archive's rollups up to the first day not completely archived."""
        async with self._uow_factory() as uow:
            oldest = await uow.facts.between(None, None, limit=1)
            records = await uow.exports.since(None)
        before = archived_before(oldest[0].occurred_at if oldest else None, records, self._late)
        if before is not None:
            await self._archive.roll_up(before, changed)

    async def _export_day(self, day: date) -> int:
        """Write the day's files from its facts, read a page at a time (a day of any size costs one page's
        memory), then record the export."""
        exported_at = self._clock.now()
        count = 0
        through: datetime | None = None
        async with self._archive.rewrite_day(day) as files:
            async for page in fact_pages(
                self._uow_factory, day_start(day), day_start(day + ONE_DAY), size=self._page_size
            ):
                await files.add(page)
                count, through = count + len(page), page[-1].occurred_at
            await files.publish()
        async with self._uow_factory() as uow:
            await uow.exports.save(ExportRecord(day=day, exported_at=exported_at, through=through, facts=count))
            await uow.commit()
        log.info("analytics.day_exported", extra={"day": day.isoformat(), "count": count})
        return count


class PurgeExportedFacts:
    """Delete the facts of the days before today - retention_days, as far as every one of those days is
    completely exported (a day not yet exported keeps its facts, and so does every day after it)."""

    def __init__(
        self, uow_factory: Callable[[], AnalyticsUnitOfWork], clock: Clock, *, retention_days: int, late: timedelta
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._retention = timedelta(days=retention_days)
        self._late = late

    async def run_locked(self) -> int:
        now = self._clock.now()
        cutoff = day_of(now - self._retention)
        async with self._uow_factory() as uow:
            oldest = await uow.facts.between(None, None, limit=1)
            if not oldest:
                return 0
            day = day_of(oldest[0].occurred_at)
            records = {record.day: record for record in await uow.exports.since(day)}
            while day < cutoff and is_complete(records.get(day), self._late):
                day += ONE_DAY
            if day_start(day) <= oldest[0].occurred_at:
                return 0
            purged = await uow.facts.delete_before(day_start(day))
            await uow.exports.mark_purged(day, now)
            await uow.commit()
        log.info("analytics.facts_purged", extra={"before": day.isoformat(), "count": purged})
        return purged


class RunAnalyticsExport:
    """The scheduled step: export (default days), then the retention, under the lock; 0 always (the next run
    is the schedule's, not at once)."""

    def __init__(self, export: ExportFacts, purge: PurgeExportedFacts, lock: RunLock) -> None:
        self._export = export
        self._purge = purge
        self._lock = lock

    async def __call__(self) -> int:
        await self.run()
        return 0

    async def run(self) -> ExportRun:
        async with self._lock.hold(ANALYTICS_EXPORT_LOCK) as held:
            if not held:
                return ExportRun(ran=False)
            days = await self._export.run_locked(None, None)
            return ExportRun(ran=True, days=days, purged=await self._purge.run_locked())
