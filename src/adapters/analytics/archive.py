"""The fact archive as date-partitioned Parquet, hive-style, written and read by DuckDB:

    {root}/kind={relation}/date=YYYY-MM-DD/part-0.parquet

one file per (kind, UTC day), with exactly the kind's columns (schema.columns); `kind` and `date` are in the
path only. `root` is a local directory (LocalParquetArchive) or `s3://bucket/prefix` (S3ParquetArchive:
DuckDB reads and writes it through fsspec's s3fs, registered on the connection, so no DuckDB extension is
needed).

A day's file is replaced in one step: locally it is written under a hidden name (a leading dot, which
Spark, Trino and Hive skip) in the same folder and renamed over the old one; on S3 an object PUT replaces
the object atomically. A reader sees the old file or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio.to_thread

from adapters.analytics.derived import Rollups
from adapters.analytics.rollups import RollupFiles, read_manifest, roll_up
from adapters.analytics.schema import StagedFacts, columns, connect, relation_name
from application.analytics.ports import DayFiles
from application.shared.facts import FACT_FIELDS, Fact, FactKind

if TYPE_CHECKING:
    import duckdb
    from fsspec import AbstractFileSystem

FILE_NAME = "part-0.parquet"
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})$")
_PARTITION_DIR = re.compile(r"(?:date|month)=(\d{4}-\d{2}-\d{2})$")
_RELATIONS = {relation_name(kind) for kind in FactKind}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fact_from_values(kind: FactKind, values: Sequence[Any]) -> Fact:
    """A Fact from one row of the kind's columns (as read back from Parquet)."""
    row = dict(zip((name for name, _type in columns(kind)), values, strict=True))
    data = {name: row[name] for name in FACT_FIELDS[kind] if row[name] is not None}
    return Fact(
        id=UUID(row["id"]),
        kind=kind,
        occurred_at=row["occurred_at"].astimezone(UTC),
        user_id=None if row["user_id"] is None else UUID(row["user_id"]),
        data=data,
    )


@dataclass(frozen=True)
class DuckDbLimits:
    """What every DuckDB connection of the archive may use (the export's and the warehouse's): `memory_limit`
    (None: DuckDB's own default, 80% of RAM), and where it spills beyond that (None: `.tmp` in the working
    directory)."""

    memory_limit: str | None = None
    temp_directory: Path | None = None


class ParquetArchive(ABC):
    """What both archives share: the layout, the DuckDB connection, writing and reading a day. Subclasses
    say how a file is published, removed and listed."""

    def __init__(
        self, root: str, filesystem: AbstractFileSystem | None = None, limits: DuckDbLimits | None = None
    ) -> None:
        self.root = root.rstrip("/")
        self._filesystem = filesystem
        self._limits = limits or DuckDbLimits()

    @functools.cached_property
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """Opened on first use (a DuckDB connection holds some 35 MB); what the export stages a day in and
        writes the files and rollups with."""
        return self.connect()

    # --- layout ------------------------------------------------------------------------------
    def kind_root(self, kind: FactKind) -> str:
        return f"{self.root}/kind={relation_name(kind)}"

    def day_path(self, kind: FactKind, day: date) -> str:
        return f"{self.kind_root(kind)}/date={day.isoformat()}/{FILE_NAME}"

    def kind_glob(self, kind: FactKind) -> str:
        """Every file of the kind, for read_parquet(..., hive_partitioning = true)."""
        return f"{self.kind_root(kind)}/date=*/*.parquet"

    def rollup_root(self, name: str) -> str:
        return f"{self.root}/rollup={name}"

    def _partition_key(self, name: str) -> str:
        return "month" if name.startswith("month_") else "date"

    def rollup_path(self, name: str, partition: date) -> str:
        return f"{self.rollup_root(name)}/{self._partition_key(name)}={partition.isoformat()}/{FILE_NAME}"

    def rollup_glob(self, name: str) -> str:
        return f"{self.rollup_root(name)}/{self._partition_key(name)}=*/*.parquet"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection (UTC) that can read and write this archive's paths, within the limits' memory
        (beyond it DuckDB spills)."""
        connection = connect()
        if self._limits.memory_limit is not None:
            connection.execute(f"SET memory_limit = {_quote(self._limits.memory_limit)}")
        spill = self._limits.temp_directory
        if spill is not None:  # else DuckDB spills to `.tmp` in the working directory
            spill.mkdir(parents=True, exist_ok=True)  # DuckDB makes the last folder only
            connection.execute(f"SET temp_directory = {_quote(str(spill))}")
        if self._filesystem is not None:
            connection.register_filesystem(self._filesystem)
        return connection

    # --- what subclasses provide -------------------------------------------------------------
    @abstractmethod
    def _staging_path(self, final: str) -> str:
        """Where COPY writes a file's new version before `_publish` puts it in place."""

    @abstractmethod
    def _publish(self, staged: str, final: str) -> None:
        """Put the staged file in place of the day's file, in one step (a rename, or an object put)."""

    @abstractmethod
    def _remove(self, final: str) -> None:
        """Delete the day's file (a day that has no facts left)."""

    @abstractmethod
    def _partition_dirs(self, root: str) -> list[str]:
        """Names of the `date=...` (or `month=...`) folders under `root` that hold a file."""

    def _date_dirs(self, kind: FactKind) -> list[str]:
        """Names of the kind's `date=...` folders that hold a file."""
        return self._partition_dirs(self.kind_root(kind))

    @abstractmethod
    def kinds_with_files(self) -> set[FactKind]:
        """The kinds that have at least one day's file."""

    # --- FactArchive -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def rewrite_day(self, day: date) -> AsyncIterator[DayFiles]:
        files = await anyio.to_thread.run_sync(_ParquetDayFiles, self, day)  # may open the DuckDB connection
        try:
            yield files
        finally:
            await anyio.to_thread.run_sync(files.discard)

    async def days(self, kind: FactKind) -> Sequence[date]:
        names = await anyio.to_thread.run_sync(self._date_dirs, kind)
        return sorted(date.fromisoformat(match.group(1)) for name in names if (match := _DATE_DIR.search(name)))

    async def read_day(self, kind: FactKind, day: date) -> Sequence[Fact]:
        return await anyio.to_thread.run_sync(self._read_day, kind, day)

    def _write_select(self, cursor: duckdb.DuckDBPyConnection, final: str, select: str, params: list[object]) -> None:
        """Replace the file at `final` with what `select` returns, in one step."""
        staged = self._staging_path(final)
        cursor.execute(f"COPY ({select}) TO {_quote(staged)} (FORMAT parquet, COMPRESSION zstd)", params)
        self._publish(staged, final)

    # --- rollups -----------------------------------------------------------------------------
    async def roll_up(self, before: date, changed: date | None) -> None:
        await anyio.to_thread.run_sync(self._roll_up, before, changed)

    def _roll_up(self, before: date, changed: date | None) -> None:
        roll_up(self._connection, self._rollup_files(), before, changed)

    def rollups(self) -> Rollups | None:
        """What the export rolled up (the manifest), None before the first roll-up."""
        return read_manifest(self._connection, self._rollup_files())

    def _rollup_files(self) -> RollupFiles:
        return RollupFiles(
            kind_glob=self.kind_glob,
            path=self.rollup_path,
            glob=self.rollup_glob,
            manifest=f"{self.rollup_root('manifest')}/{FILE_NAME}",
            write=self._write_select,
            remove=self._remove,
            partitions=self._partitions,
        )

    def _partitions(self, name: str) -> set[date]:
        root = self.root + f"/kind={name}" if name in _RELATIONS else self.rollup_root(name)
        return {
            date.fromisoformat(match.group(1))
            for folder in self._partition_dirs(root)
            if (match := _PARTITION_DIR.search(folder))
        }

    def _read_day(self, kind: FactKind, day: date) -> list[Fact]:
        if day.isoformat() not in {name.removeprefix("date=") for name in self._date_dirs(kind)}:
            return []
        names = ", ".join(f'"{name}"' for name, _type in columns(kind))
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute(
                f"SELECT {names} FROM read_parquet({_quote(self.day_path(kind, day))}) ORDER BY occurred_at, id"  # noqa: S608
            ).fetchall()
        finally:
            cursor.close()
        return [fact_from_values(kind, row) for row in rows]


class _ParquetDayFiles:
    """A day's new files, staged in the archive's DuckDB (one table per kind, on a cursor of its own) until
    `publish` copies each kind's table to its file (sorted by occurred_at, id) or removes the file of a
    kind with no facts."""

    def __init__(self, archive: ParquetArchive, day: date) -> None:
        self._archive = archive
        self._day = day
        self._cursor = archive._connection.cursor()
        self._staged = StagedFacts(self._cursor, f"staging_{secrets.token_hex(8)}_")

    async def add(self, facts: Sequence[Fact]) -> None:
        if facts:
            await anyio.to_thread.run_sync(self._staged.add, facts)

    async def publish(self) -> None:
        await anyio.to_thread.run_sync(self._publish)

    def _publish(self) -> None:
        for kind in FactKind:
            final = self._archive.day_path(kind, self._day)
            table = self._staged.tables.get(kind)
            if table is None:
                self._archive._remove(final)
            else:
                select = f'SELECT * FROM "{table}" ORDER BY occurred_at, id'  # noqa: S608 (names are ours)
                self._archive._write_select(self._cursor, final, select, [])

    def discard(self) -> None:
        """Drop what was staged (published or not)."""
        self._staged.drop()
        self._cursor.close()


class LocalParquetArchive(ParquetArchive):
    def __init__(self, directory: Path, limits: DuckDbLimits | None = None) -> None:
        self.directory = directory.resolve()
        super().__init__(str(self.directory), limits=limits)

    def _staging_path(self, final: str) -> str:
        folder = Path(final).parent
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f".{FILE_NAME}.{secrets.token_hex(6)}.tmp")

    def _publish(self, staged: str, final: str) -> None:
        os.replace(staged, final)

    def _remove(self, final: str) -> None:
        path = Path(final)
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()

    def _partition_dirs(self, root: str) -> list[str]:
        return [folder.name for folder in Path(root).glob("*=*") if (folder / FILE_NAME).is_file()]

    def kinds_with_files(self) -> set[FactKind]:
        return {kind for kind in FactKind if next(Path(self.kind_root(kind)).glob(f"date=*/{FILE_NAME}"), None)}


class S3ParquetArchive(ParquetArchive):
    """`s3://bucket/prefix` through s3fs. Listings are asked of S3 afresh (s3fs's listing cache is dropped
    for the archive's own paths before each listing)."""

    def __init__(self, url: str, filesystem: AbstractFileSystem, limits: DuckDbLimits | None = None) -> None:
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url}")
        self._fs = filesystem
        super().__init__(url, filesystem, limits)

    def _staging_path(self, final: str) -> str:
        return final  # a PUT replaces the object in one step: nothing to stage

    def _publish(self, staged: str, final: str) -> None:
        self._fs.invalidate_cache(final.rsplit("/", 2)[0])

    def _remove(self, final: str) -> None:
        self._fs.invalidate_cache(final.rsplit("/", 2)[0])
        if self._fs.exists(final):
            self._fs.rm(final)
        self._fs.invalidate_cache(final.rsplit("/", 2)[0])

    def _partition_dirs(self, root: str) -> list[str]:
        self._fs.invalidate_cache(root)
        suffix = f"/{FILE_NAME}"
        return [key[: -len(suffix)].rsplit("/", 1)[-1] for key in self._fs.find(root) if key.endswith(suffix)]

    def kinds_with_files(self) -> set[FactKind]:
        self._fs.invalidate_cache(self.root)
        if not self._fs.exists(self.root):
            return set()
        names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in self._fs.ls(self.root, detail=False)}
        return {kind for kind in FactKind if f"kind={relation_name(kind)}" in names}


def s3_filesystem(endpoint_url: str | None = None, *, listings_seconds: float = 10.0) -> AbstractFileSystem:
    """s3fs with the standard AWS credentials (environment, profile or instance role) and, for an
    S3-compatible store, `endpoint_url`. Listings are cached `listings_seconds` (the warehouse's globs)."""
    import s3fs

    kwargs: dict[str, Any] = {"listings_expiry_time": listings_seconds}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    filesystem: AbstractFileSystem = s3fs.S3FileSystem(**kwargs)
    return filesystem


def archive_for(
    location: str, *, endpoint_url: str | None = None, limits: DuckDbLimits | None = None
) -> ParquetArchive:
    """The archive at PARLEY_ANALYTICS_DIR: `s3://bucket/prefix` or a local directory, its DuckDB within
    `limits`."""
    if location.startswith("s3://"):
        return S3ParquetArchive(location, s3_filesystem(endpoint_url), limits)
    return LocalParquetArchive(Path(location), limits)
