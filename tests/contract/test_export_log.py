"""One suite for the record of the analytics exports (uow.exports), run against memory, SQLite and
PostgreSQL: a day's record reads back, a day exported again replaces its record, `since` starts at its day,
and `mark_purged` stamps only the days before its bound that were not stamped yet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from application.analytics.ports import AnalyticsUnitOfWork, ExportRecord

UowFactory = Callable[[], Any]
DAY = date(2026, 3, 1)
AT = datetime(2026, 3, 2, 0, 10, 0, 250000, tzinfo=UTC)


def record_of(day: date, facts: int = 3) -> ExportRecord:
    return ExportRecord(day=day, exported_at=AT + (day - DAY), through=AT - timedelta(minutes=20), facts=facts)


async def save(uow_factory: UowFactory, *records: ExportRecord) -> None:
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        for record in records:
            await uow.exports.save(record)
        await uow.commit()


async def since(uow_factory: UowFactory, day: date | None) -> list[ExportRecord]:
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        return list(await uow.exports.since(day))


async def test_a_record_reads_back_and_a_day_exported_again_replaces_it(uow_factory: UowFactory) -> None:
    empty_day = ExportRecord(day=DAY + timedelta(days=1), exported_at=AT, through=None, facts=0)
    await save(uow_factory, record_of(DAY), empty_day)
    again = ExportRecord(day=DAY, exported_at=AT + timedelta(hours=1), through=AT, facts=5)

    await save(uow_factory, again)

    assert await since(uow_factory, None) == [again, empty_day]


async def test_since_starts_at_its_day(uow_factory: UowFactory) -> None:
    records = [record_of(DAY + timedelta(days=offset)) for offset in range(4)]
    await save(uow_factory, *reversed(records))

    assert await since(uow_factory, DAY + timedelta(days=2)) == records[2:]


async def test_mark_purged_stamps_the_days_before_its_bound_once(uow_factory: UowFactory) -> None:
    records = [record_of(DAY + timedelta(days=offset)) for offset in range(3)]
    await save(uow_factory, *records)
    uow: AnalyticsUnitOfWork
    async with uow_factory() as uow:
        assert await uow.exports.mark_purged(DAY + timedelta(days=1), AT) == 1
        assert await uow.exports.mark_purged(DAY + timedelta(days=2), AT + timedelta(days=1)) == 1
        await uow.commit()

    stamped = [record.purged_at for record in await since(uow_factory, None)]
    assert stamped == [AT, AT + timedelta(days=1), None]
