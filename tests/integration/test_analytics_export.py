"""The analytics export end to end on SQLite and PostgreSQL: facts recorded through units of work, exported
to Parquet in a local directory, read back through the ParquetWarehouse, purged by the retention.

THE boundary test: whatever was exported, whatever arrived since (late commits included) and whatever the
retention deleted, every kind counts through the warehouse what the database holds (or held)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.analytics.archive import (
    DuckDbLimits,
    LocalParquetArchive,
    ParquetArchive,
    S3ParquetArchive,
    s3_filesystem,
)
from adapters.analytics.schema import relation_name
from adapters.analytics.warehouse import ParquetWarehouse
from adapters.memory.clock import FrozenClock
from adapters.memory.locks import InProcessRunLock
from adapters.sql.engine import create_engine, create_session_factory
from adapters.sql.locks import PostgresAdvisoryLock
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.analytics.export import ANALYTICS_EXPORT_LOCK, ExportFacts, PurgeExportedFacts, RunAnalyticsExport
from application.analytics.ports import DayFiles
from application.shared.facts import Fact, FactKind
from application.shared.locks import RunLock
from tests.factories.facts import FactFactory

LATE = timedelta(minutes=5)
PAGE = 7
DAY1 = date(2026, 3, 1)
NOON_DAY3 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@dataclass
class Stack:
    engine: AsyncEngine
    uow_factory: Callable[[], SqlUnitOfWork]
    clock: FrozenClock
    archive: ParquetArchive
    lock: RunLock
    export: ExportFacts
    purge: PurgeExportedFacts
    scheduled: RunAnalyticsExport
    warehouse: ParquetWarehouse

    async def record(self, facts: Sequence[Fact]) -> None:
        async with self.uow_factory() as uow:
            for fact in facts:
                await uow.facts.record(fact)
            await uow.commit()

    async def database_counts(self) -> dict[str, int]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(text("SELECT kind, count(*) FROM analytics_facts GROUP BY kind"))
            return {FactKind(kind).value: count for kind, count in rows}

    async def warehouse_counts(self) -> dict[str, int]:
        def count(connection: Any) -> dict[str, int]:
            found = {
                kind.value: connection.execute(f"SELECT count(*) FROM {relation_name(kind)}").fetchone()[0]
                for kind in FactKind
            }
            return {kind: number for kind, number in found.items() if number}

        counts, _as_of = await self.warehouse.run(count)
        return counts


def make_lock(engine: AsyncEngine) -> RunLock:
    """The lock bootstrap picks: PostgreSQL's advisory lock there, the in-process one on SQLite."""
    return PostgresAdvisoryLock(engine) if engine.dialect.name == "postgresql" else InProcessRunLock()


def build(
    engine: AsyncEngine,
    directory: Path,
    clock: FrozenClock,
    lock: RunLock | None = None,
    archive: ParquetArchive | None = None,
) -> Stack:
    sessions = create_session_factory(engine)
    uow_factory = lambda: SqlUnitOfWork(sessions)  # noqa: E731
    archive = archive or LocalParquetArchive(directory, DuckDbLimits(memory_limit="256MB"))
    lock = lock or make_lock(engine)
    # Small pages, so that every day and tail here is read over several of them.
    warehouse = ParquetWarehouse(uow_factory, archive, late=LATE, tail_seconds=0, threads=1, page_size=PAGE)
    export = ExportFacts(uow_factory, archive, lock, clock, late=LATE, on_exported=warehouse.invalidate, page_size=PAGE)
    purge = PurgeExportedFacts(uow_factory, clock, retention_days=7, late=LATE)
    return Stack(
        engine, uow_factory, clock, archive, lock, export, purge, RunAnalyticsExport(export, purge, lock), warehouse
    )


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    engine = create_engine(database_url)
    built = build(engine, tmp_path / "analytics", FrozenClock(NOON_DAY3))
    yield built
    built.warehouse.close()
    await engine.dispose()


def facts_until(end: datetime, every: timedelta, start: datetime) -> list[Fact]:
    """Facts of every kind in turn, one each `every` from `start` to before `end`."""
    kinds = list(FactKind)
    facts, at, index = [], start, 0
    while at < end:
        facts.append(FactFactory.of(kinds[index % len(kinds)], at))
        at, index = at + every, index + 1
    return facts


async def exported(stack: Stack) -> dict[tuple[str, date], list[dict[str, Any]]]:
    files = {}
    for kind in FactKind:
        for day in await stack.archive.days(kind):
            files[(kind.value, day)] = [fact.row() for fact in await stack.archive.read_day(kind, day)]
    return files


async def records(stack: Stack) -> list[tuple[date, int]]:
    async with stack.uow_factory() as uow:
        return [(record.day, record.facts) for record in await uow.exports.since(None)]


async def test_exporting_twice_gives_the_same_files_and_counts(stack: Stack) -> None:
    start = datetime.combine(DAY1, datetime.min.time(), tzinfo=UTC)
    await stack.record(facts_until(NOON_DAY3, timedelta(minutes=37), start))

    first = await stack.export()
    files, counts = await exported(stack), await records(stack)
    second = await stack.export(DAY1, NOON_DAY3.date())

    assert first.ran and second.ran
    assert [day.day for day in first.days] == [DAY1, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)]
    assert [(day.day, day.facts) for day in second.days] == [(day.day, day.facts) for day in first.days]
    assert await exported(stack) == files
    assert await records(stack) == counts
    assert sum(count for _day, count in counts) == sum((await stack.database_counts()).values())
    assert isinstance(stack.archive, LocalParquetArchive)
    leftovers = [path for path in stack.archive.directory.rglob("*") if path.is_file() and path.name.startswith(".")]
    assert leftovers == []


async def test_the_warehouse_counts_each_fact_once_across_the_export_boundary_and_after_retention(
    stack: Stack,
) -> None:
    start = datetime.combine(DAY1, datetime.min.time(), tzinfo=UTC)
    await stack.record(facts_until(NOON_DAY3, timedelta(minutes=23), start))
    first = await stack.export()  # days 1 and 2 completely, day 3 up to noon
    assert first.ran
    async with stack.uow_factory() as uow:
        [day3] = await uow.exports.since(NOON_DAY3.date())
    assert day3.through is not None

    # More of day 3: after the export, and one that occurred before its `through` but committed after it.
    later = facts_until(NOON_DAY3 + timedelta(hours=6), timedelta(minutes=11), NOON_DAY3 + timedelta(minutes=1))
    late_commit = FactFactory.of(FactKind.PAYMENT_SUCCEEDED, day3.through - timedelta(minutes=2))
    await stack.record([*later, late_commit])
    stack.clock.advance(timedelta(hours=6))

    in_database = await stack.database_counts()
    assert await stack.warehouse_counts() == in_database
    (_counts, as_of) = await stack.warehouse.run(lambda connection: None)
    assert as_of == later[-1].occurred_at

    # Export again (day 3 partly again), then ten days on: day 3 complete, the retention deletes days 1 to 5.
    await stack.export()
    assert await stack.warehouse_counts() == in_database
    stack.clock.advance(timedelta(days=10))
    run = await stack.scheduled.run()

    assert run.ran and run.purged == sum(in_database.values())
    assert await stack.database_counts() == {}
    assert await stack.warehouse_counts() == in_database
    (_counts, as_of) = await stack.warehouse.run(lambda connection: None)
    assert as_of == later[-1].occurred_at


async def test_the_retention_keeps_what_is_not_completely_exported_and_a_purged_day_keeps_its_files(
    stack: Stack,
) -> None:
    start = datetime.combine(DAY1, datetime.min.time(), tzinfo=UTC)
    await stack.record(facts_until(NOON_DAY3, timedelta(hours=1), start))
    await stack.export()  # days 1 and 2 completely, day 3 only partly
    before = await stack.database_counts()
    files = await exported(stack)
    stack.clock.advance(timedelta(days=10))

    purged = await stack.purge.run_locked()

    async with stack.uow_factory() as uow:
        left = await uow.facts.between(None, None)
    assert purged == 48 and len(left) == 12  # days 1 and 2 went; day 3 stays, its export being partial
    assert {fact.occurred_at.date() for fact in left} == {NOON_DAY3.date()}
    assert await stack.warehouse_counts() == before

    again = await stack.export(DAY1, DAY1)

    assert [(day.day, day.kept) for day in again.days] == [(DAY1, True)]
    assert await exported(stack) == files


class GatedArchive(LocalParquetArchive):
    """The real local archive whose first write waits for the test's go: an export that is still running."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    @contextlib.asynccontextmanager
    async def rewrite_day(self, day: date) -> AsyncIterator[DayFiles]:
        self.entered.set()
        await self.go.wait()
        async with super().rewrite_day(day) as files:
            yield files


async def test_two_concurrent_exports_one_runs_and_the_other_skips(database_url: str, tmp_path: Path) -> None:
    # Two runners as two processes have them: engines (and so lock connections) of their own.
    engines = [create_engine(database_url), create_engine(database_url)]
    shared = InProcessRunLock()  # on SQLite: one process, one in-process lock
    gated = GatedArchive(tmp_path / "analytics")
    stacks = [
        build(
            engine,
            tmp_path / "analytics",
            FrozenClock(NOON_DAY3),
            None if engine.dialect.name == "postgresql" else shared,
            archive=gated if index == 0 else None,
        )
        for index, engine in enumerate(engines)
    ]
    try:
        await stacks[0].record([FactFactory.of(FactKind.USER_SIGNED_UP, NOON_DAY3 - timedelta(hours=1))])
        running = asyncio.create_task(stacks[0].export())
        await gated.entered.wait()

        skipped = await stacks[1].scheduled.run()
        gated.go.set()
        ran = await running

        assert not skipped.ran and not skipped.days
        assert ran.ran and [(day.day, day.facts) for day in ran.days] == [(NOON_DAY3.date(), 1)]
        async with stacks[1].lock.hold(ANALYTICS_EXPORT_LOCK) as held:
            assert held  # released when the export ended
    finally:
        for stack in stacks:
            stack.warehouse.close()
        for engine in engines:
            await engine.dispose()


async def test_the_container_reads_analytics_through_the_warehouse_on_sql_and_the_database_in_memory(
    database_url: str, tmp_path: Path
) -> None:
    from adapters.analytics.database_views import DatabaseFactViews
    from adapters.memory.database import InMemoryDatabase
    from adapters.memory.unit_of_work import InMemoryUnitOfWork
    from entrypoints.bootstrap import bootstrap
    from entrypoints.settings import Settings

    settings = Settings(
        var_dir=tmp_path,
        database_url=database_url,
        secret_key="k" * 48,
        analytics_memory_limit="64MB",
        _env_file=None,  # type: ignore[call-arg]
    )
    on_sql = bootstrap(settings)
    memory = InMemoryDatabase()
    in_memory = bootstrap(settings, uow_factory=lambda: InMemoryUnitOfWork(memory))
    try:
        assert isinstance(on_sql.fact_views, ParquetWarehouse)
        assert isinstance(in_memory.fact_views, DatabaseFactViews)
        async with on_sql.uow_factory() as uow:
            await uow.facts.record(FactFactory.of(FactKind.USER_SIGNED_UP, NOON_DAY3))
            await uow.commit()
        run = await on_sql.analytics.export()
        assert run.ran
        assert (tmp_path / "analytics" / "kind=user_signed_up").is_dir()
        counts, as_of = await on_sql.fact_views.run(
            lambda connection: connection.execute("SELECT count(*) FROM user_signed_up").fetchone()
        )
        assert counts == (1,) and as_of == NOON_DAY3
        limits, _ = await on_sql.fact_views.run(
            lambda connection: connection.execute(
                "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
            ).fetchone()
        )
        assert limits == ("61.0 MiB", str(tmp_path / "tmp" / "duckdb"))  # 64 MB, spilling under var/tmp
    finally:
        await on_sql.aclose()
        await in_memory.aclose()


async def test_the_warehouse_reads_an_s3_archive_plus_the_tail(
    sqlite_url: str, s3_bucket_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_url)
    archive = S3ParquetArchive(s3_bucket_url, s3_filesystem(s3_endpoint))
    stack = build(engine, tmp_path, FrozenClock(NOON_DAY3), archive=archive)
    try:
        start = datetime.combine(DAY1, datetime.min.time(), tzinfo=UTC)
        await stack.record(facts_until(NOON_DAY3, timedelta(minutes=47), start))
        assert (await stack.export()).ran
        await stack.record(facts_until(NOON_DAY3 + timedelta(hours=2), timedelta(minutes=13), NOON_DAY3))

        assert await stack.warehouse_counts() == await stack.database_counts()
        assert await archive.days(FactKind.MESSAGE_REPLIED) == [DAY1 + timedelta(days=offset) for offset in range(3)]
    finally:
        stack.warehouse.close()
        await engine.dispose()
