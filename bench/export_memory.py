"""What one day's analytics export costs the process that runs it, for one source tree or several side by
side: the peak RSS it adds, the longest the event loop went without running (what a chat stream in the same
process waits, on the embedded default where the API process runs the export), and the seconds.

The database is seeded once (with the current tree's tables): FACTS facts of one UTC day (yesterday), chat
replies with every field, as a busy day or a backlog after an upgrade leaves them; on SQLite (the embedded
default) and on PostgreSQL. Then per tree a child process (PYTHONPATH=the tree) builds the production
ExportFacts over that database and a fresh local archive, and exports the day, while a ticker task measures
the loop's stalls. Peak RSS is the child's high-water mark (VmHWM) minus its RSS just before the export.

    .venv/bin/python bench/export_memory.py BASELINE_SRC [CURRENT_SRC] [--facts 300000] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

SRC = Path(__file__).resolve().parent.parent / "src"
POSTGRES_ADMIN = "postgresql://127.0.0.1:5432/postgres"
NOW = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
DAY_START = datetime(2026, 6, 1, tzinfo=UTC)


def rss_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


async def child(url: str, directory: str) -> dict[str, float]:
    """Runs in the tree's own interpreter path: export DAY_START's day, measure."""
    from adapters.analytics.archive import LocalParquetArchive
    from adapters.memory.clock import FrozenClock
    from adapters.memory.locks import InProcessRunLock
    from adapters.sql.engine import create_engine, create_session_factory
    from adapters.sql.unit_of_work import SqlUnitOfWork
    from application.analytics.export import ExportFacts

    engine = create_engine(url)
    sessions = create_session_factory(engine)
    archive = LocalParquetArchive(Path(directory))
    export = ExportFacts(
        lambda: SqlUnitOfWork(sessions), archive, InProcessRunLock(), FrozenClock(NOW), late=timedelta(minutes=5)
    )
    async with engine.connect():  # the pool's first connection, outside the figures
        pass
    longest = 0.0
    running = True

    async def tick() -> None:
        nonlocal longest
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            longest = max(longest, time.perf_counter() - before - 0.005)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    before_rss = rss_bytes("VmRSS")
    started = time.perf_counter()
    run = await export(DAY_START.date(), DAY_START.date())
    seconds = time.perf_counter() - started
    running = False
    await ticker
    await engine.dispose()
    exported = sum(day.facts for day in run.days)
    return {"facts": exported, "seconds": seconds, "added_rss": rss_bytes("VmHWM") - before_rss, "stall": longest}


async def seed(url: str, facts: int) -> None:
    """FACTS chat-reply facts spread over the day, inserted in batches with the current tree's tables."""
    sys.path.insert(0, str(SRC))
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from adapters.sql.tables import analytics_facts, metadata

    engine = create_async_engine(url)
    every = timedelta(days=1) / facts
    users = [uuid4() for _ in range(1000)]
    async with engine.begin() as connection:
        tables = [analytics_facts, metadata.tables["analytics_exports"]]
        await connection.run_sync(lambda sync: metadata.create_all(sync, tables=tables))
        for first in range(0, facts, 20_000):
            rows = [
                {
                    "id": uuid4(),
                    "kind": "message.replied",
                    "occurred_at": DAY_START + every * index,
                    "user_id": users[index % len(users)],
                    "data": {
                        "conversation_id": str(uuid4()),
                        "plan": "pro",
                        "model": "gpt-4o-mini",
                        "provider": "openai",
                        "prompt_tokens": 120 + index % 50,
                        "completion_tokens": 300 + index % 70,
                        "cost_micros": 210 + index % 9,
                        "latency_ms": 900 + index % 300,
                        "ttft_ms": 180 + index % 40,
                        "failovers": 0,
                        "cached": index % 10 == 0,
                        "finish_reason": "stop",
                        "error": None,
                    },
                }
                for index in range(first, min(first + 20_000, facts))
            ]
            await connection.execute(insert(analytics_facts), rows)
    await engine.dispose()


def measure(tree: str, url: str) -> dict[str, float]:
    directory = tempfile.mkdtemp(prefix="parley-export-")
    try:
        env = {**os.environ, "PYTHONPATH": tree}
        code = (
            "import asyncio, json, sys; sys.path.insert(0, sys.argv[1]); import export_memory; "
            "print(json.dumps(asyncio.run(export_memory.child(sys.argv[2], sys.argv[3]))))"
        )
        bench = str(Path(__file__).resolve().parent)
        done = subprocess.run(
            [sys.executable, "-c", code, bench, url, directory], env=env, capture_output=True, text=True, check=True
        )
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", help="source trees (their src/ folders), the baseline first")
    parser.add_argument("--facts", type=int, default=300_000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="parley-export-db-"))
    databases = [("SQLite", f"sqlite+aiosqlite:///{work}/parley.db")]
    name = f"parley_bench_export_{secrets.token_hex(4)}"
    if not args.sqlite_only:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        databases.append(("PostgreSQL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"))
    try:
        rows = []
        for label, url in databases:
            started = time.perf_counter()
            asyncio.run(seed(url, args.facts))
            print(f"{label}: seeded {args.facts:,} facts in {time.perf_counter() - started:.1f} s", flush=True)
            for tree in args.trees:
                rows.append((label, tree, measure(tree, url)))
        print_table(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.sqlite_only:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print("\n| database | tree | facts | seconds | peak RSS added | longest loop stall | RSS vs first tree |")
    print("|---|---|---:|---:|---:|---:|---:|")
    first: dict[str, float] = {}
    for label, tree, figures in rows:
        base = first.setdefault(label, figures["added_rss"])
        print(
            f"| {label} | {tree} | {figures['facts']:,.0f} | {figures['seconds']:.1f} | "
            f"{figures['added_rss'] / 2**20:.0f} MiB | {figures['stall'] * 1000:.0f} ms | "
            f"{figures['added_rss'] / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
