"""The analytics queries over synthetic Parquet: `python -m bench.analytics [--facts N] [--users U] [--dir D]`.

Generates N facts (default 10,000,000) over a year for U users (default 100,000) in DuckDB itself (`range` and
`random()`, no Python per row), written straight into the warehouse's hive layout,
`{dir}/kind={relation}/date=YYYY-MM-DD/part-0.parquet`, with each kind's columns (schema.columns). Then
exports through the production ExportFacts (generation and export in a child process, so the figures below
are the answering process's own), the day after the year with an empty database (an in-memory store): it
rolls up the whole year, as a first export after an upgrade would; then it rolls up one day again, what a
daily run costs.
Then asks every question of DuckDbAnalyticsQueries over the last 30 and the whole 365 days: 5 calls cold (a
new DuckDB connection each time; the OS file cache stays warm) and 5 warm (one connection, after a first
call), with DuckDB on one thread (`--threads`), and prints a Markdown table of p50 and p95 beside the export
times, the Parquet size (facts and rollups) and the answering process's peak RSS.

The FactViews is the production ParquetWarehouse itself over an empty database tail (an in-memory store), so
the views are the production ones: each kind's Parquet with its partition `date`, and the rollups.

`--dir D --keep` keeps the files and reuses them on the next run with the same D (no generation, no export)."""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from adapters.analytics.archive import DuckDbLimits, LocalParquetArchive
from adapters.analytics.duckdb_queries import DuckDbAnalyticsQueries
from adapters.analytics.schema import columns, connect, relation_name
from adapters.analytics.warehouse import ParquetWarehouse
from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase
from adapters.memory.locks import InProcessRunLock
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.analytics.coverage import day_start
from application.analytics.export import ExportFacts
from application.analytics.range import DateRange, Interval
from application.shared.facts import FactKind

T = TypeVar("T")
START = "2026-01-01"
DAYS = 365
GENERATE_THREADS = 2
LATE = timedelta(minutes=5)

# Each kind's share of the facts (messages take what is left) and its own columns' values, as DuckDB SQL over
# `i` (the row number) and `u` (a user number). The rest of a kind's columns are NULL.
_SUBSCRIPTION = {
    "subscription_id": "'sub-' || u",
    "plan": "CASE WHEN u % 3 = 0 THEN 'pro' ELSE 'plus' END",
    "price_cents": "CASE WHEN u % 3 = 0 THEN 5000 ELSE 2000 END",
    "currency": "'usd'",
    "status": "'active'",
}
_PAYMENT = {
    "payment_id": "'pay-' || i",
    "amount_cents": "CASE WHEN u % 3 = 0 THEN 5000 ELSE 2000 END",
    "currency": "'usd'",
    "plan": "CASE WHEN u % 3 = 0 THEN 'pro' ELSE 'plus' END",
}
KINDS: dict[FactKind, tuple[float, dict[str, str]]] = {
    FactKind.USER_VERIFIED: (0.008, {}),
    FactKind.USER_SIGNED_IN: (0.03, {}),
    FactKind.USER_DISABLED: (0.0002, {}),
    FactKind.SUBSCRIPTION_STARTED: (0.002, _SUBSCRIPTION),
    FactKind.SUBSCRIPTION_UPGRADED: (0.0003, {**_SUBSCRIPTION, "plan": "'pro'", "price_cents": "5000"}),
    FactKind.SUBSCRIPTION_DOWNGRADED: (0.0002, {**_SUBSCRIPTION, "plan": "'plus'", "price_cents": "2000"}),
    FactKind.SUBSCRIPTION_CANCELED: (0.0005, {**_SUBSCRIPTION, "status": "'canceled'"}),
    FactKind.SUBSCRIPTION_RENEWED: (0.008, _SUBSCRIPTION),
    FactKind.SUBSCRIPTION_PAST_DUE: (0.0002, {**_SUBSCRIPTION, "status": "'past_due'"}),
    FactKind.PAYMENT_SUCCEEDED: (0.01, _PAYMENT),
    FactKind.PAYMENT_FAILED: (0.0005, _PAYMENT),
    FactKind.PAYMENT_REFUNDED: (0.0002, _PAYMENT),
}
_MESSAGE = {
    "conversation_id": "'conv-' || (i // 8)",
    "plan": "CASE WHEN u % 5 = 0 THEN 'plus' WHEN u % 13 = 0 THEN 'pro' ELSE 'free' END",
    "model": "['gpt-4o-mini', 'gpt-4o', 'claude-sonnet', 'demo'][1 + i % 4]",
    "provider": "['openai', 'openai', 'anthropic', 'demo'][1 + i % 4]",
    "prompt_tokens": "(50 + random() * 2000)::BIGINT",
    "completion_tokens": "(10 + random() * 800)::BIGINT",
    "cost_micros": "(random() * 20000)::BIGINT",
    "latency_ms": "(400 + random() * 6000)::BIGINT",
    "ttft_ms": "CASE WHEN i % 50 = 0 THEN NULL ELSE (100 + random() * 300)::BIGINT END",
    "failovers": "CASE WHEN i % 40 = 0 THEN 1 ELSE 0 END",
    "cached": "i % 20 = 0",
    "finish_reason": "CASE WHEN i % 50 = 0 THEN 'error' ELSE 'stop' END",
    "error": "CASE WHEN i % 50 = 0 THEN 'provider-unavailable' ELSE NULL END",
}


def generate(directory: Path, facts: int, users: int) -> dict[FactKind, int]:
    """Write the facts; how many of each kind."""
    counts = {kind: max(1, int(facts * share)) for kind, (share, _) in KINDS.items()}
    counts[FactKind.USER_SIGNED_UP] = users
    counts[FactKind.MESSAGE_REPLIED] = facts - sum(counts.values())
    connection = connect()
    connection.execute(f"SET threads = {GENERATE_THREADS}")
    for kind, count in counts.items():
        own = _MESSAGE if kind is FactKind.MESSAGE_REPLIED else KINDS.get(kind, (0.0, {}))[1]
        values = {
            "id": "uuid()::VARCHAR",
            # Signups spread over the year, one per user; everything else after its user's signup, roughly.
            "occurred_at": f"TIMESTAMPTZ '{START}' + to_microseconds((random() * {DAYS} * 86400e6)::BIGINT)",
            "user_id": "'user-' || u",
            **own,
        }
        select = ", ".join(
            f"CAST({values.get(name, 'NULL')} AS {sql_type}) AS {name}" for name, sql_type in columns(kind)
        )
        user = "i" if kind is FactKind.USER_SIGNED_UP else f"(random() * {users})::BIGINT"
        target = str(directory).replace("'", "''")
        connection.execute(
            f"COPY (SELECT *, '{relation_name(kind)}' AS kind, occurred_at::DATE AS date FROM "
            f"(SELECT {select} FROM (SELECT i, {user} AS u FROM range({count}) AS t(i)))) "
            f"TO '{target}' (FORMAT parquet, PARTITION_BY (kind, date), FILENAME_PATTERN 'part-{{i}}', "
            "OVERWRITE_OR_IGNORE)"
        )
    connection.close()
    return counts


async def export(directory: Path) -> tuple[float, float]:
    """The production export over the generated files, run the day after the year (its facts all in Parquet
    already, the database empty, as after the retention): it rolls up the whole year from nothing, as the
    first export after an upgrade would; then one day rolled up again (what each day's export does, the
    window of the users' active-day gaps included). The two times, in seconds."""
    archive = LocalParquetArchive(directory)
    after = date.fromisoformat(START) + timedelta(days=DAYS)
    database = InMemoryDatabase()
    clock = FrozenClock(day_start(after) + LATE)
    export_facts = ExportFacts(lambda: InMemoryUnitOfWork(database), archive, InProcessRunLock(), clock, late=LATE)
    began = time.perf_counter()
    run = await export_facts()
    first = time.perf_counter() - began
    assert run.ran and (rolled := archive.rollups()) is not None and rolled.before == after
    began = time.perf_counter()
    await archive.roll_up(after, after - timedelta(days=1))
    return first, time.perf_counter() - began


def warehouse(directory: Path, threads: int) -> ParquetWarehouse:
    """The production FactViews, ParquetWarehouse, over the files and an empty database tail (an in-memory
    store: every fact is in Parquet), with the production memory limit (1 GB) and `threads`."""
    database = InMemoryDatabase()
    return ParquetWarehouse(
        lambda: InMemoryUnitOfWork(database),
        LocalParquetArchive(directory, DuckDbLimits(memory_limit="1GB")),
        late=LATE,
        tail_seconds=3600,
        threads=threads,
    )


class ColdViews:
    """A new ParquetWarehouse (a new DuckDB connection: no cached metadata) for every call."""

    def __init__(self, directory: Path, threads: int) -> None:
        self._directory = directory
        self._threads = threads

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        views = warehouse(self._directory, self._threads)
        try:
            return await views.run(query)
        finally:
            views.close()


def questions(queries: DuckDbAnalyticsQueries, span: DateRange) -> dict[str, Callable[[], Awaitable[Any]]]:
    day = Interval.DAY
    return {
        "users/count": lambda: queries.user_count(span),
        "users/growth": lambda: queries.user_growth(span, day),
        "users/active": lambda: queries.active_users(span, day),
        "users/retention": lambda: queries.retention(span),
        "chat/messages": lambda: queries.messages(span, day),
        "chat/by-provider": lambda: queries.messages_by_provider(span, day),
        "revenue/total": lambda: queries.revenue(span, day),
        "revenue/mrr": lambda: queries.mrr(span, day),
        "revenue/margin": lambda: queries.margin(span, day),
        "providers/usage": lambda: queries.provider_usage(span),
        "providers/performance": lambda: queries.provider_performance(span),
    }


async def _times(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return (
        statistics.quantiles(ordered, n=100, method="inclusive")[int(q * 100) - 1] if len(ordered) > 1 else ordered[0]
    )


async def measure(directory: Path, calls: int, threads: int) -> list[tuple[str, int, float, float, float, float]]:
    last = date.fromisoformat(START) + timedelta(days=DAYS - 1)
    rows = []
    warm_views = warehouse(directory, threads)
    for days in (30, 365):
        span = DateRange(last - timedelta(days=days - 1), last)
        cold = questions(DuckDbAnalyticsQueries(ColdViews(directory, threads)), span)
        warm = questions(DuckDbAnalyticsQueries(warm_views), span)
        for name in cold:
            cold_times = await _times(cold[name], calls)
            await warm[name]()  # the first call warms the connection
            warm_times = await _times(warm[name], calls)
            rows.append(
                (name, days, _p(cold_times, 0.5), _p(cold_times, 0.95), _p(warm_times, 0.5), _p(warm_times, 0.95))
            )
    warm_views.close()
    return rows


def _size(directory: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in directory.glob(pattern) if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads of the answering connection")
    parser.add_argument("--dir", type=Path, help="where to write the Parquet files (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="with --dir: reuse the files found there, keep them")
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        began = time.perf_counter()
        counts = generate(args.dir, args.facts, args.users)
        generated = time.perf_counter() - began
        first, daily = asyncio.run(export(args.dir))
        body = "".join(f"{kind.value} {n}\n" for kind, n in counts.items())
        (args.dir / f"generated-{args.facts}-{args.users}.txt").write_text(f"{body}{generated} {first} {daily}\n")
        return
    directory = args.dir or Path(tempfile.mkdtemp(prefix="parley-analytics-"))
    try:
        marker = directory / f"generated-{args.facts}-{args.users}.txt"
        if not (args.keep and marker.exists()):
            command = [sys.executable, "-m", "bench.analytics", "--export-only", "--dir", str(directory)]
            command += ["--facts", str(args.facts), "--users", str(args.users)]
            subprocess.run(command, check=True)
        lines = [line.split() for line in marker.read_text().splitlines()]
        counts = {FactKind(kind): int(n) for kind, n in lines[:-1]}
        generated, first, daily = (float(value) for value in lines[-1])
        rows = asyncio.run(measure(directory, args.calls, args.threads))
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        facts_mib = _size(directory, "kind=*/*/*.parquet") / 2**20
        rollups_mib = _size(directory, "rollup=*/**/*") / 2**20
        print(
            f"{sum(counts.values()):,} facts ({counts[FactKind.MESSAGE_REPLIED]:,} messages) for {args.users:,} "
            f"users over {DAYS} days: generated in {generated:.1f} s, {facts_mib:.0f} MiB of Parquet; export of the "
            f"last day with the year's rollups from nothing {first:.1f} s, a day's rollups again {daily:.1f} s, "
            f"{rollups_mib:.1f} MiB of rollups; answering process peak RSS {rss_mib:.0f} MiB; DuckDB threads "
            f"{args.threads}; {args.calls} calls each\n"
        )
        print("| question | range (days) | cold p50 ms | cold p95 ms | warm p50 ms | warm p95 ms |")
        print("|---|---|---|---|---|---|")
        for name, days, c50, c95, w50, w95 in rows:
            print(f"| {name} | {days} | {c50:.0f} | {c95:.0f} | {w50:.0f} | {w95:.0f} |")
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
