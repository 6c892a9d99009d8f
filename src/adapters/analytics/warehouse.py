"""ParquetWarehouse: the analytics FactViews over the archive's Parquet plus the database's tail.

For each kind the relation (a view, named as schema.relation_name says) is

    read_parquet(the kind's files, hive_partitioning = true)   (its columns and the partition `date`)
    UNION ALL
    the tail's facts of the kind whose id is in none of the kind's files of the tail's days
                                                               (`date`: their UTC day, schema.DAY_OF)

where the tail is the facts of the database that occurred from `tail_start` on (coverage.py: the oldest
moment a fact may be missing from the archive, the newest partial export's `through` minus the late-commit
lag). The anti-join runs in every query against the files as they are then, on the tail's days only (a
constant date filter, so DuckDB opens no other day's files): a fact exported since the tail was read is
counted once, from Parquet, and no fact counts twice at the boundary.

One DuckDB connection per process (a cursor per query; DuckDB's cursors are safe across threads), capped in
memory and threads. The tail lives in one small table per kind, read again from the database at most every
`tail_seconds` (and at once after an export in this process): only facts from the newest one it holds minus
the lag come over each time, so a refresh costs what arrived since the last one. `as_of` is the newest
occurred_at the relations hold (the tail's, or the newest export's `through`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread

from adapters.analytics.archive import ParquetArchive
from adapters.analytics.derived import Rollups, derived_statements
from adapters.analytics.rollups import month_name, month_start
from adapters.analytics.schema import StagedFacts, columns, create_table, relation_name, select_with_day
from application.analytics.coverage import day_of, tail_start
from application.analytics.pages import PAGE_SIZE, fact_pages
from application.analytics.ports import AnalyticsUnitOfWork
from application.shared.facts import FactKind

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
log = logging.getLogger("parley.analytics")


def _tail_table(kind: FactKind) -> str:
    return f"tail_{relation_name(kind)}"


def _parquet(archive: ParquetArchive, kind: FactKind) -> str:
    glob = archive.kind_glob(kind).replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true)"


@dataclass
class _Tail:
    start: datetime | None
    """Where the tail held starts (None: it holds the whole database)."""
    newest: datetime | None
    as_of: datetime | None


class ParquetWarehouse:
    def __init__(
        self,
        uow_factory: Callable[[], AnalyticsUnitOfWork],
        archive: ParquetArchive,
        *,
        late: timedelta,
        tail_seconds: float = 2.0,
        threads: int = 2,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._uow_factory = uow_factory
        self._page_size = page_size
        self._archive = archive
        self._late = late
        self._tail_seconds = tail_seconds
        self._threads = int(threads)
        self._tail: _Tail | None = None
        self._fresh_until = 0.0
        self._refreshing = asyncio.Lock()

    @functools.cached_property
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """Opened on first use: a DuckDB connection holds some 35 MB, which an API process that never answers an
        analytics question should not carry. Its memory cap and spill folder are the archive's (DuckDbLimits)."""
        connection = self._archive.connect()
        connection.execute(f"SET threads = {self._threads}")
        connection.execute("SET parquet_metadata_cache = true")
        connection.execute("SET preserve_insertion_order = false")  # every query orders what it returns
        for kind in FactKind:
            create_table(connection, kind, _tail_table(kind))
        return connection

    def invalidate(self) -> None:
        """Read the tail again before the next query (an export in this process just ran)."""
        self._fresh_until = 0.0

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        tail = await self._fresh_tail()

        def work() -> T:
            cursor = self._connection.cursor()
            try:
                return query(cursor)
            finally:
                cursor.close()

        return await anyio.to_thread.run_sync(work), tail.as_of

    def close(self) -> None:
        if "_connection" in self.__dict__:
            self._connection.close()

    async def _fresh_tail(self) -> _Tail:
        if self._tail is not None and time.monotonic() < self._fresh_until:
            return self._tail
        async with self._refreshing:
            if self._tail is None or time.monotonic() >= self._fresh_until:
                started = time.monotonic()
                self._tail = await self._refresh(self._tail)
                self._fresh_until = started + self._tail_seconds
        return self._tail

    async def _refresh(self, held: _Tail | None) -> _Tail:
        async with self._uow_factory() as uow:
            oldest_facts = await uow.facts.between(None, None, limit=1)
            oldest = oldest_facts[0].occurred_at if oldest_facts else None
            records = await uow.exports.since(day_of(oldest) if oldest else None)
            start = tail_start(oldest, records, self._late)
            # What the held tail lacks: facts from its newest minus the lag (a later commit of an older fact),
            # unless the tail now starts earlier than the one held (then all of it again).
            incremental = held is not None and held.newest is not None and _not_before(start, held.start)
            since = start
            if incremental and held is not None and held.newest is not None:
                since = held.newest - self._late if start is None else max(start, held.newest - self._late)
        through = max((record.through for record in records if record.through is not None), default=None)
        with_files = await anyio.to_thread.run_sync(self._archive.kinds_with_files)
        rollups = await anyio.to_thread.run_sync(self._archive.rollups)
        cursor = self._connection.cursor()
        staged = StagedFacts(cursor, "staging_tail_")
        try:
            if oldest is not None:
                async for page in fact_pages(self._uow_factory, since, None, size=self._page_size):
                    await anyio.to_thread.run_sync(staged.add, page)
            newest = await anyio.to_thread.run_sync(self._load, start, staged, incremental, with_files, rollups)
        finally:
            await anyio.to_thread.run_sync(staged.drop)
            cursor.close()
        as_of = max((moment for moment in (newest, through) if moment is not None), default=None)
        return _Tail(start=start, newest=newest, as_of=as_of)

    def _load(
        self,
        start: datetime | None,
        staged: StagedFacts,
        incremental: bool,
        with_files: set[FactKind],
        rollups: Rollups | None,
    ) -> datetime | None:
        """Bring the tail tables up to date and define every kind's view and the derived relations (one
        transaction: a query sees the tail before or after, never half of it); the newest occurred_at the tail
        holds."""
        cursor = self._connection.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            for kind in FactKind:
                table = _tail_table(kind)
                if not incremental:
                    cursor.execute(f'DELETE FROM "{table}"')  # noqa: S608 (names are ours)
                elif start is not None:
                    cursor.execute(f'DELETE FROM "{table}" WHERE occurred_at < ?', [start])  # noqa: S608
                staging = staged.tables.get(kind)
                if staging is not None:
                    cursor.execute(
                        f'INSERT INTO "{table}" SELECT * FROM "{staging}" '  # noqa: S608
                        f'WHERE id NOT IN (SELECT id FROM "{table}")'
                    )
            rollups = _within(rollups, self._first_tail_day(cursor))
            for kind in FactKind:
                self._define_view(cursor, kind, kind in with_files, rollups)
            for statement in derived_statements(rollups):
                cursor.execute(statement)
            maxima = " UNION ALL ".join(
                f'SELECT max(occurred_at) AS newest FROM "{_tail_table(kind)}"'  # noqa: S608 (names are ours)
                for kind in FactKind
            )
            newest_row = cursor.execute(f"SELECT max(newest) FROM ({maxima})").fetchone()  # noqa: S608
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
        newest: datetime | None = newest_row[0] if newest_row else None
        return newest

    def _first_tail_day(self, cursor: duckdb.DuckDBPyConnection) -> date | None:
        oldest = " UNION ALL ".join(
            f'SELECT min(occurred_at) AS oldest FROM "{_tail_table(kind)}"'  # noqa: S608 (names are ours)
            for kind in FactKind
        )
        row = cursor.execute(f"SELECT min(oldest) FROM ({oldest})").fetchone()  # noqa: S608
        return day_of(row[0]) if row is not None and row[0] is not None else None

    def _define_view(
        self, cursor: duckdb.DuckDBPyConnection, kind: FactKind, has_files: bool, rollups: Rollups | None
    ) -> None:
        oldest = cursor.execute(f'SELECT min(occurred_at) FROM "{_tail_table(kind)}"').fetchone()  # noqa: S608
        first_day = day_of(oldest[0]) if oldest is not None and oldest[0] is not None else None
        months = None
        if rollups is not None and month_name(kind) in rollups.present:
            months = (rollups.globs[month_name(kind)], month_start(rollups.before))
        parquet = _parquet(self._archive, kind) if has_files else None
        body = view_sql(kind, parquet, _tail_table(kind), first_day, months)
        cursor.execute(f'CREATE OR REPLACE VIEW "{relation_name(kind)}" AS {body}')


def _within(rollups: Rollups | None, first_tail_day: date | None) -> Rollups | None:
    """The rollups as far as they may be read: up to the tail's first day when the tail reaches back into
    days rolled up (facts the database holds for days the rollups count would count twice); the users'
    recent active days and MRR are then reckoned raw."""
    if rollups is None or first_tail_day is None or first_tail_day >= rollups.before:
        return rollups
    return Rollups(before=first_tail_day, present=rollups.present, globs=rollups.globs, recent=None, mrr=None)


def view_sql(
    kind: FactKind,
    parquet: str | None,
    tail: str,
    first_tail_day: date | None,
    months: tuple[str, date] | None = None,
) -> str:
    """The body of a kind's view: its Parquet (`parquet`, a read_parquet(...) with hive partitioning; None
    when the kind has no file) with the partition `date`, UNION ALL the tail table's facts (`date` their UTC
    day) whose id is in no file of the tail's days (from `first_tail_day`, None when the tail is empty).
    `months`: the glob of the kind's compacted month files and the first day they do not cover: the days
    before it are read from those (a file a month, not a file a day), the days from it from the day files."""
    names = ", ".join(f'"{name}"' for name, _type in columns(kind))
    tail_rows = select_with_day(kind, f'"{tail}"')
    if parquet is None:
        return tail_rows
    body = f"SELECT {names}, date FROM {parquet}"  # noqa: S608 (names are ours)
    if months is not None:
        glob, until = months
        compacted = f"read_parquet('{glob.replace(chr(39), chr(39) * 2)}', hive_partitioning = false)"
        body = (
            f"SELECT {names}, date FROM {compacted} WHERE date < DATE '{until.isoformat()}' "  # noqa: S608
            f"UNION ALL {body} WHERE date >= DATE '{until.isoformat()}'"
        )
    if first_tail_day is not None:
        body += (
            f" UNION ALL {tail_rows} WHERE id NOT IN "  # noqa: S608
            f"(SELECT id FROM {parquet} WHERE date >= DATE '{first_tail_day.isoformat()}')"
        )
    return body


def _not_before(start: datetime | None, held: datetime | None) -> bool:
    """True when a tail from `start` is within the one held from `held` (None: from the beginning)."""
    if held is None:
        return True
    return start is not None and start >= held
