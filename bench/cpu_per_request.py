"""Server CPU per request, for one source tree or two side by side: the steadiest figure of what a change costs
on the chat path (the added milliseconds of run.py's c=1 rows and its replies per second move with the machine
by more than most changes cost; a server's CPU per request moves by a few percent).

Set-up as run.py's (servers.py): the mock upstream, and per tree a database, a Redis prefix, users and
`parley serve` pinned to the first core; this process and the upstream on the second. Then ROUNDS rounds, the
trees in turn (ABBA...), each round a fresh pro user sending streamed (or, with --plain, non-streamed) chats,
CONCURRENCY at a time (default 1), for SECONDS; per tree the median over rounds of the server's CPU seconds
(utime + stime, all threads) over the replies, and the p50 TTFT and latency (not minus the direct figure: compare
the columns only). A round with failed requests is printed with its failures. `--counts` also prints, per tree,
the median over rounds of what a request costs the services: Redis commands (INFO commandstats; the other
server idles meanwhile, so its background loops add a little) and PostgreSQL transactions and rows written
(pg_stat_database of the tree's database, read once its statistics are flushed): counts, not timings, so
they do not move with the machine. Two trees at most: each
server holds up to 40 database connections (servers.py) and PostgreSQL's max_connections is 100; a third
server's chats fail with 503 once the connections run out.

    .venv/bin/python bench/cpu_per_request.py BASELINE_SRC [CURRENT_SRC] [--rounds 6] [--seconds 3]
                                              [--concurrency 1] [--plain] [--pace] [--counts]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx
from loadgen import Target, run_load
from redis.asyncio import Redis
from servers import (
    PG_DSN,
    REDIS_URL,
    Side,
    build,
    cores,
    cpu_seconds,
    free_port,
    pinned,
    port_open,
    server_env,
    stop,
    tear_down,
    wait_until,
)

UPSTREAM = Path(__file__).resolve().parent / "upstream.py"
MAX_REQUESTS = 7000
"""A round's cap: a pro quota holds about 8,000 replies (run.py)."""
STATS_FLUSH_SECONDS = 1.2
"""PostgreSQL's backends report their statistics at most once a second: a round's counts are read after this."""
COUNTED = ("redis commands", "pg transactions", "pg rows written")


async def service_counts(redis: Redis, side: Side) -> tuple[int, int, int]:
    """Redis commands run so far (all clients), and the side's database's transactions and rows written."""
    stats = await redis.info("commandstats")
    commands = sum(int(entry["calls"]) for entry in stats.values())
    connection = await asyncpg.connect(PG_DSN.format(db="postgres"))
    try:
        row = await connection.fetchrow(
            "SELECT xact_commit + xact_rollback AS transactions, tup_inserted + tup_updated + tup_deleted AS rows"
            " FROM pg_stat_database WHERE datname = $1",
            side.db,
        )
    finally:
        await connection.close()
    assert row is not None
    return commands, int(row["transactions"]), int(row["rows"])


def target(side: Side, user: str, *, stream: bool) -> Target:
    url = f"http://127.0.0.1:{side.port}/v1/chat/completions"
    return Target.of(url, side.keys[user], stream=stream, model="gpt-4o-mini")


async def main(args: argparse.Namespace) -> None:
    parley_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    run_id, tmp = secrets.token_hex(4), Path(tempfile.mkdtemp(prefix="parley-cpu-"))
    upstream_port = free_port()
    sides: list[Side] = []
    for index, src in enumerate(args.trees):
        name, src = f"tree{index}", src.resolve()
        (tmp / name).mkdir()
        db, prefix = f"parley_cpu_{run_id}_{name}", f"parley_cpu_{run_id}_{name}:"
        sides.append(
            Side(name, src, tmp / name, db, prefix, free_port(), server_env(src, db, prefix, upstream_port, tmp / name))
        )
    users = ["warmup", *(f"round{r}" for r in range(args.rounds))]
    upstream = await asyncio.create_subprocess_exec(
        *pinned(load_core, sys.executable, UPSTREAM, "--port", str(upstream_port)), cwd=tmp
    )
    redis = Redis.from_url(REDIS_URL)
    try:
        await wait_until(lambda: port_open(upstream_port), "the mock upstream")
        for side in sides:
            await build(side, parley_core, users, None, [])
        if args.pace:
            async with httpx.AsyncClient() as client:
                (await client.post(f"http://127.0.0.1:{upstream_port}/_bench/pace/2")).raise_for_status()
        for side in sides:  # lazy imports, the pool's connections, PostgreSQL's plan caches
            await run_load(
                target(side, "warmup", stream=True), concurrency=1, duration=2, warmup=0, max_requests=MAX_REQUESTS
            )
        if args.counts:  # the warm-ups' statistics reach pg_stat_database before the first round's are read
            await asyncio.sleep(STATS_FLUSH_SECONDS)
        rounds: dict[str, list[tuple[float, float, float]]] = {side.name: [] for side in sides}
        counts: dict[str, list[tuple[float, ...]]] = {side.name: [] for side in sides}
        for turn in range(args.rounds):
            for side in sides if turn % 2 == 0 else sides[::-1]:
                if args.counts:  # flushed: after the warm-ups, and after this side's previous round
                    counted = await service_counts(redis, side)
                before = cpu_seconds(side.pid)
                load = await run_load(
                    target(side, f"round{turn}", stream=not args.plain),
                    concurrency=args.concurrency,
                    duration=args.seconds,
                    warmup=0,
                    max_requests=MAX_REQUESTS,
                )
                cpu_ms = (cpu_seconds(side.pid) - before) * 1000 / max(1, load["total_ok"])
                if load["failures"]:
                    print(f"{side.src} round {turn}: {load['total_ok']} ok, failures {load['failures']}")
                rounds[side.name].append((cpu_ms, load["ttft_ms"]["p50"] or 0.0, load["latency_ms"]["p50"] or 0.0))
                if args.counts:
                    await asyncio.sleep(STATS_FLUSH_SECONDS)
                    after = await service_counts(redis, side)
                    replies = max(1, load["total_ok"])
                    counts[side.name].append(tuple((b - a) / replies for a, b in zip(counted, after, strict=True)))
        print(f"{'tree':<50} {'CPU ms/request':>15} {'TTFT p50':>9} {'latency p50':>12}  rounds (CPU ms)")
        for side in sides:
            cpu, ttft, latency = (statistics.median(values) for values in zip(*rounds[side.name], strict=True))
            each = " ".join(f"{r[0]:.3f}" for r in rounds[side.name])
            print(f"{side.src!s:<50} {cpu:>15.3f} {ttft:>9.3f} {latency:>12.3f}  {each}")
        if args.counts:
            print(f"\n{'per request (median over rounds)':<50} " + " ".join(f"{name:>16}" for name in COUNTED))
            for side in sides:
                medians = (statistics.median(values) for values in zip(*counts[side.name], strict=True))
                print(f"{side.src!s:<50} " + " ".join(f"{value:>16.2f}" for value in medians))
    finally:
        await stop(upstream)
        for side in sides:
            await tear_down(side, redis)
        await redis.aclose()
        shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", type=Path, help="source trees' src directories")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0, help="per round and tree")
    parser.add_argument("--concurrency", type=int, default=1, help="chats in flight at once")
    parser.add_argument("--plain", action="store_true", help="non-streamed chats")
    parser.add_argument("--pace", action="store_true", help="the upstream pausing 2 ms between tokens")
    parser.add_argument("--counts", action="store_true", help="also Redis commands and PostgreSQL work a request")
    args = parser.parse_args()
    if len(args.trees) > 2:
        parser.error("two trees at most (PostgreSQL's connections hold two servers' pools)")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
