"""The chat benchmark: one run, the mock upstream alone, the baseline tree and the current tree, the same load in
the same run; one table.

Set-up (all of it torn down at the end): the mock upstream (bench/upstream.py), and per side (the baseline
tree given with --baseline-src, and the current tree) a fresh PostgreSQL database, a Redis prefix, users and
`parley serve` (see servers.py). Both servers run pinned to the first core (only one is under load at a time);
this process (the load generator) and the upstream share the second.

Scenarios (each against the upstream directly, then through each side, the sides alternating):
1. streamed, concurrency 32: throughput;       2. non-streamed, concurrency 32: throughput;
3. streamed, concurrency 1: added TTFT/latency; 4. non-streamed, concurrency 1: added latency;
5. 1,000 streams held open against a slow upstream: Parley's RSS at peak;
6. streamed, concurrency 32, upstream pausing 2 ms between tokens: throughput;
7. the same paced upstream, concurrency 1: added TTFT/latency;
8. a user with 1,000 usage records against one with 1,000,000: GET /api/usage and the first chat after the
   quota counter is lost (history.py);
9. scenario 1 through Anthropic's Messages API (/v1/messages, streamed, concurrency 32): its streams/s against
   scenario 1's in the same run (the same turn behind another wire format: within 10%).
Then durability: every successful reply left a usage record and an assistant message, and each user's quota
ledger matches the usage stored.

    .venv/bin/python bench/run.py [--baseline-src DIR] [--quick] [--profile] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import history
import httpx
import profiling
import report
from loadgen import Target, hold_streams, percentiles, run_load
from redis.asyncio import Redis
from servers import (
    CURRENT_SRC,
    PG_DSN,
    REDIS_URL,
    Side,
    build,
    connection_headroom,
    cores,
    cpu_seconds,
    free_port,
    pinned,
    port_open,
    rss_bytes,
    server_env,
    stop,
    tear_down,
    wait_until,
)
from upstream import COMPLETION_TOKENS, PROMPT_TOKENS, raise_fd_limit, run_fast

UPSTREAM = Path(__file__).resolve().parent / "upstream.py"
MODEL = "gpt-4o-mini"
COST = PROMPT_TOKENS + COMPLETION_TOKENS
"""Tokens Parley charges per reply: the usage the mock upstream reports."""
RESERVE = 200
"""Upper bound of one request's hold on the ledger (prompt estimate + max_tokens 50), for the cap's margin."""
MIB = 1024 * 1024
STATS_LAG = 1.0
"""Seconds PostgreSQL may take to publish a backend's statistics."""
PACE_MS = 2.0


@dataclass(frozen=True)
class Load:
    """A load of scenarios 1-4, 6 and 7. `pace_ms`: the upstream's pause between tokens."""

    name: str
    stream: bool
    concurrency: int
    pace_ms: float = 0.0
    wire: str = "openai"
    """`openai`: /v1/chat/completions; `anthropic`: /v1/messages (Parley's side only: the upstream is OpenAI)."""


LOADS = (
    Load("1-stream-c32", stream=True, concurrency=32),
    Load("2-plain-c32", stream=False, concurrency=32),
    Load("3-stream-c1", stream=True, concurrency=1),
    Load("4-plain-c1", stream=False, concurrency=1),
    Load("6-paced-c32", stream=True, concurrency=32, pace_ms=PACE_MS),
    Load("7-paced-c1", stream=True, concurrency=1, pace_ms=PACE_MS),
    Load("9-messages-c32", stream=True, concurrency=32, wire="anthropic"),
)


@dataclass(frozen=True)
class Durations:
    throughput: float
    """Seconds of a concurrency-32 load per side, split over the rounds (the direct load runs them at once)."""
    latency: float
    """The same at concurrency 1."""
    paced_latency: float
    """The same for the paced upstream at concurrency 1: a reply takes 100 ms there, so the load runs longer
    to give its p50 a few hundred replies a side (5 s gave about 50, whose p50 moved by 8% run to run)."""
    warmup: float
    """Before every round (each has its own user and connections; `settle` warms the servers up once)."""
    settle: float = 3.0
    """Seconds of the unmeasured load on each server before the first scenario."""
    rounds: int = 4
    """Per side and load: more, shorter rounds interleave the sides more finely against a machine's drift."""
    streams: int = 1000
    delay_ms: float = 1000.0
    """Per chunk: a 50-chunk stream lasts 50 s, long enough for all of them to be open at once."""
    ramp: float = 5.0
    usage_reps: int = 15
    cold_reps: int = 7


FULL = Durations(throughput=10.0, latency=5.0, paced_latency=30.0, warmup=0.5, rounds=4)
QUICK = Durations(
    throughput=2.0,
    latency=2.0,
    paced_latency=4.0,
    warmup=0.5,
    settle=1.0,
    rounds=2,
    streams=200,
    delay_ms=100.0,
    ramp=1.0,
    usage_reps=3,
    cold_reps=3,
)


@dataclass
class Bench:
    tmp: Path
    upstream_port: int
    sides: list[Side]
    plan: Durations
    results: dict[str, Any]
    redis: Redis

    def direct(self, *, stream: bool) -> Target:
        return Target.of(f"http://127.0.0.1:{self.upstream_port}/v1/chat/completions", "direct", stream=stream)

    def parley(self, side: Side, user: str, *, stream: bool, wire: str = "openai") -> Target:
        if wire == "anthropic":
            url = f"http://127.0.0.1:{side.port}/v1/messages"
            return Target.messages(url, side.keys[user], stream=stream, model=MODEL)
        url = f"http://127.0.0.1:{side.port}/v1/chat/completions"
        return Target.of(url, side.keys[user], stream=stream, model=MODEL)

    async def upstream(self, setting: str, value: float) -> None:
        """`delay` or `pace` of the mock upstream, in ms (0 turns it off)."""
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{self.upstream_port}/_bench/{setting}/{value}")
            answer.raise_for_status()


# --- process figures ------------------------------------------------------------------------------


async def db_sessions(side: Side) -> int:
    """Sessions ever opened on the side's database (PostgreSQL counts them as they begin)."""
    assert side.monitor is not None
    query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    return int(await side.monitor.fetchval(query))


async def with_server_cpu(side: Side, load: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run a load and add the share of one core the side's server used meanwhile (warm-up included) and how
    many database connections it opened (a pool that keeps too few connects again and again under load)."""
    cpu, wall, sessions = cpu_seconds(side.pid), time.perf_counter(), await db_sessions(side)
    result = await load
    result["server_cpu"] = round((cpu_seconds(side.pid) - cpu) / (time.perf_counter() - wall), 3)
    await asyncio.sleep(STATS_LAG)  # PostgreSQL publishes backend statistics on its own schedule
    result["db_connections_opened"] = await db_sessions(side) - sessions
    side.parley_ok += result["total_ok"]
    return result


def quota_cap(side: Side, user: str, concurrency: int) -> int:
    """The most requests `user` can send without a quota error (429 insufficient_quota would skew the figures)."""
    return max(0, side.remaining[user] - concurrency * RESERVE) // COST


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure set over several rounds of a load: rates over the summed windows, percentiles over every
    measured request; the rounds' own figures kept under `rounds`."""
    ttft = [value for r in rounds for value in r.pop("ttft_s", [])]
    latency = [value for r in rounds for value in r.pop("latency_s", [])]
    seconds = sum(r["seconds"] for r in rounds)
    requests = sum(r["requests"] for r in rounds)
    failures: Counter[str] = Counter()
    for r in rounds:
        failures.update(r["failures"])
    return {
        "mode": rounds[0]["mode"],
        "concurrency": rounds[0]["concurrency"],
        "seconds": round(seconds, 3),
        "capped": any(r["capped"] for r in rounds),
        "requests": requests,
        "errors": sum(r["errors"] for r in rounds),
        "rps": round(requests / max(seconds, 1e-9), 2),
        "ttft_ms": percentiles(ttft),
        "latency_ms": percentiles(latency),
        "total_sent": sum(r["total_sent"] for r in rounds),
        "total_ok": sum(r["total_ok"] for r in rounds),
        "failures": dict(failures),
        "error_samples": [sample for r in rounds for sample in r["error_samples"]][:5],
        "server_cpu": round(sum(r["server_cpu"] for r in rounds) / len(rounds), 3),
        "db_connections_opened": sum(r["db_connections_opened"] for r in rounds),
        "rounds": rounds,
    }


def in_turn(sides: list[Side], turn: int) -> list[Side]:
    """The sides in order on even turns, reversed on odd ones (ABBA...): drift over the run hits both alike."""
    return sides if turn % 2 == 0 else sides[::-1]


# --- scenarios ------------------------------------------------------------------------------------


def load_users(plan: Durations, profiled: list[str]) -> list[str]:
    rounds = [f"{load.name}-r{turn}" for load in LOADS for turn in range(plan.rounds)]
    return ["0-warmup", *rounds, "5-hold", *(f"profile-{name}" for name in profiled)]


async def settle(bench: Bench) -> None:
    """Before measuring: a CHECKPOINT (the seed's hundreds of MB of dirty pages would otherwise be flushed
    during the loads, slowing every commit's WAL flush: at concurrency 1 that is most of a request), then a
    short unmeasured streamed load on each server (its first requests pay for lazy imports, the pool's
    connections and PostgreSQL's plan caches; whichever side ran first would pay more)."""
    started = time.perf_counter()
    admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
    try:
        await admin.execute("CHECKPOINT")
    finally:
        await admin.close()
    bench.results["checkpoint_s"] = round(time.perf_counter() - started, 2)
    for side in bench.sides:
        target = bench.parley(side, "0-warmup", stream=True)
        load = run_load(
            target,
            concurrency=32,
            duration=bench.plan.settle,
            warmup=0,
            max_requests=quota_cap(side, "0-warmup", 32),
        )
        bench.results.setdefault("warmup", {})[side.name] = await with_server_cpu(side, load)


async def loads(bench: Bench, only: list[str] | None) -> None:
    """Scenarios 1-4, 6, 7, 9: each directly once, then each side `rounds` times (a fresh user per round, the
    sides' order alternating round after round and scenario after scenario)."""
    plan = bench.plan
    for index, load in enumerate(LOADS):
        if only is not None and load.name not in only:
            continue
        seconds = plan.throughput if load.concurrency > 1 else plan.paced_latency if load.pace_ms else plan.latency
        options = {"concurrency": load.concurrency, "warmup": plan.warmup}
        await bench.upstream("pace", load.pace_ms)
        try:
            direct = await run_load(bench.direct(stream=load.stream), duration=seconds, **options)
            rounds: dict[str, list[dict[str, Any]]] = {side.name: [] for side in bench.sides}
            for turn in range(plan.rounds):
                for side in in_turn(bench.sides, index + turn):
                    user = f"{load.name}-r{turn}"
                    target = bench.parley(side, user, stream=load.stream, wire=load.wire)
                    cap = quota_cap(side, user, load.concurrency)
                    run = run_load(target, duration=seconds / plan.rounds, max_requests=cap, samples=True, **options)
                    rounds[side.name].append(await with_server_cpu(side, run))
        finally:
            await bench.upstream("pace", 0)
        figures = {name: merge(runs) for name, runs in rounds.items()}
        bench.results["loads"][load.name] = {"direct": direct, "pace_ms": load.pace_ms, **figures}
        shown = ", ".join(f"{name} {f['rps']:,.1f}/s" for name, f in figures.items())
        print(f"  {load.name}: direct {direct['rps']:,.0f}/s, {shown}", file=sys.stderr)


async def held_streams(bench: Bench) -> None:
    """Scenario 5: `streams` streams open at once against a slow upstream; each server's RSS sampled meanwhile."""
    plan = bench.plan
    out: dict[str, Any] = {"delay_ms": plan.delay_ms}
    await bench.upstream("delay", plan.delay_ms)
    try:
        out["direct"] = await hold_streams(bench.direct(stream=True), count=plan.streams, ramp=plan.ramp)
        for side in in_turn(bench.sides, len(LOADS)):
            idle = rss_bytes(side.pid)
            target = bench.parley(side, "5-hold", stream=True)
            hold = asyncio.ensure_future(
                with_server_cpu(side, hold_streams(target, count=plan.streams, ramp=plan.ramp))
            )
            peak = idle
            while not hold.done():
                peak = max(peak, rss_bytes(side.pid))
                await asyncio.wait([hold], timeout=0.02)
            out[side.name] = hold.result() | {
                "rss_idle": idle,
                "rss_peak": peak,
                "rss_hwm": rss_bytes(side.pid, "VmHWM"),
            }
            print(f"  5-hold {side.name}: peak RSS {peak / MIB:.1f} MiB", file=sys.stderr)
    finally:
        await bench.upstream("delay", 0)
    bench.results["5-hold"] = out


async def user_history(bench: Bench) -> None:
    """Scenario 8 on each side (history.py)."""
    out: dict[str, Any] = {}
    for side in in_turn(bench.sides, len(LOADS) + 1):
        out[side.name] = await history.measure(side, bench.redis, bench.plan.usage_reps, bench.plan.cold_reps)
        figures = out[side.name]
        shown = ", ".join(
            f"{user} usage {figures[user]['usage_ms']['p50']} ms, cold TTFT {figures[user]['cold_ttft_ms']['p50']} ms"
            for user in history.MEASURED
        )
        print(f"  8-history {side.name}: {shown}", file=sys.stderr)
    bench.results["8-history"] = out


async def profile(bench: Bench, args: argparse.Namespace, name: str) -> dict[str, Any]:
    """One load again on one side, its own user, with py-spy recording that side's server."""
    load = next(load for load in LOADS if load.name == name)
    side = next((s for s in bench.sides if s.name == args.profile_side), bench.sides[-1])
    concurrency = args.profile_concurrency or load.concurrency
    seconds = bench.plan.warmup + (bench.plan.throughput if concurrency > 1 else bench.plan.latency)
    run = run_load(
        bench.parley(side, f"profile-{name}", stream=load.stream, wire=load.wire),
        concurrency=concurrency,
        duration=seconds - bench.plan.warmup,
        warmup=bench.plan.warmup,
        max_requests=quota_cap(side, f"profile-{name}", concurrency),
    )
    keep = None if args.profile_raw is None else args.profile_raw.with_name(f"{name}.{args.profile_raw.name}")
    if args.profile_raw is not None and len(args.profile_scenario) == 1:
        keep = args.profile_raw
    await bench.upstream("pace", load.pace_ms)
    try:
        result = await profiling.profiled(side.pid, seconds, with_server_cpu(side, run), bench.tmp, keep)
    finally:
        await bench.upstream("pace", 0)
    return result | {"what": f"{load.name} at concurrency {concurrency} on the {side.name} tree"}


# --- durability -----------------------------------------------------------------------------------

_STORED = """
SELECT (SELECT count(*) FROM usage_records r JOIN users u ON u.id = r.user_id
         WHERE u.email NOT LIKE 'bench-history-%') AS usage_records,
       (SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
         WHERE m.role = 'assistant' AND u.email NOT LIKE 'bench-history-%') AS assistant_messages
"""
_TOKENS_IN_PERIOD = """
SELECT u.email, coalesce(sum(r.prompt_tokens + r.completion_tokens), 0) AS tokens
FROM users u
LEFT JOIN LATERAL (SELECT current_period_start FROM subscriptions s WHERE s.user_id = u.id
                   ORDER BY s.id DESC LIMIT 1) AS s ON true
LEFT JOIN usage_records r ON r.user_id = u.id AND NOT r.cached AND r.period_start = s.current_period_start
GROUP BY u.email
"""


async def durability(bench: Bench, side: Side) -> dict[str, Any]:
    """Every successful reply of the load users must have left a usage record and an assistant message, and
    each user's quota ledger (the history users' too) must show exactly the tokens its usage records of the
    period hold (reservations all settled)."""
    assert side.monitor is not None
    counts: dict[str, int] = {}
    for _ in range(50):  # replies cut off by the client are accounted in the background: let them land
        counts = dict(await side.monitor.fetchrow(_STORED))
        if counts["usage_records"] >= side.parley_ok:
            break
        await asyncio.sleep(0.2)  # polling the database: no event tells when the background work is done
    stored = {row["email"]: int(row["tokens"]) for row in await side.monitor.fetch(_TOKENS_IN_PERIOD)}
    ledger: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{side.port}", timeout=60) as client:
        for user, key in side.keys.items():
            answer = await client.get("/api/usage", headers={"Authorization": f"Bearer {key}"})
            answer.raise_for_status()
            ledger[f"bench-{user}@example.com"] = answer.json()["used"]
    mismatched = {user: (ledger[user], stored.get(user, 0)) for user in ledger if ledger[user] != stored.get(user, 0)}
    return {"successful_replies": side.parley_ok, **counts, "ledger_mismatches": mismatched}


# --- the run --------------------------------------------------------------------------------------


def tree(src: Path) -> Path:
    """A source tree's `src`, checked: Parley's packages in it and its migrations beside it."""
    src = src.resolve()
    if not (src / "entrypoints" / "cli.py").is_file():
        raise SystemExit(f"{src}: not a Parley source tree's src (no entrypoints/cli.py)")
    if not (src.parent / "migrations" / "env.py").is_file():
        raise SystemExit(f"{src}: no migrations/ beside it ({src.parent / 'migrations'})")
    return src


async def main(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Set up, run every scenario into `results`, tear down (also when a step fails)."""
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    profiled = args.profile_scenario if args.profile or args.profile_raw else []
    parley_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    else:
        print("warning: one core only; nothing is pinned, figures are not comparable", file=sys.stderr)
    run_id = secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    upstream_port = free_port()
    trees = ([("baseline", tree(args.baseline_src))] if args.baseline_src else []) + [
        ("current", tree(args.current_src))
    ]
    sides: list[Side] = []
    for name, src in trees:
        (tmp / name).mkdir()
        db, prefix = f"parley_bench_{run_id}_{name}", f"parley_bench_{run_id}_{name}:"
        env = server_env(src, db, prefix, upstream_port, tmp / name)
        sides.append(Side(name, src, tmp / name, db, prefix, free_port(), env))
    seeded = [] if args.no_history else history.users()
    results.update(quick=args.quick, loads={}, sides={})
    processes: list[asyncio.subprocess.Process] = []
    redis = Redis.from_url(REDIS_URL)
    try:
        upstream = await asyncio.create_subprocess_exec(
            *pinned(load_core, sys.executable, UPSTREAM, "--port", str(upstream_port)), cwd=tmp
        )
        processes.append(upstream)
        await wait_until(lambda: port_open(upstream_port), "the mock upstream")
        if warning := await connection_headroom(len(sides)):
            results["warnings"] = [warning]
            print(f"warning: {warning}", file=sys.stderr)
        for side in sides:
            print(f"{side.name}: {side.src}, database {side.db}, Redis prefix {side.prefix}", file=sys.stderr)
            seed = None if args.no_history else (lambda connection: history.seed(connection, seeded))
            try:
                await build(side, parley_core, load_users(plan, profiled), seed, seeded)
            finally:
                results["sides"][side.name] = {"src": str(side.src), "db": side.db, **side.facts}
            print(f"  {side.name}: {side.facts}", file=sys.stderr)
        bench = Bench(tmp, upstream_port, sides, plan, results, redis)
        print(f"servers on core {parley_core}; load and upstream on core {load_core}", file=sys.stderr)
        await settle(bench)
        await loads(bench, args.only)
        if profiled:
            results["profiles"] = [await profile(bench, args, name) for name in profiled]
        if not args.no_hold:
            await held_streams(bench)
        if not args.no_history:
            await user_history(bench)
        results["durability"] = {side.name: await durability(bench, side) for side in sides}
    finally:
        for process in processes:
            await stop(process)
        for side in sides:
            await tear_down(side, redis)
            results.setdefault("server_logs", {})[side.name] = report.server_log_summary(side.log_path)
        await redis.aclose()
        shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(
        description="Parley chat benchmark: the upstream alone, a baseline tree, the current tree."
    )
    parser.add_argument("--baseline-src", type=Path, help="the baseline tree's src (its migrations/ beside it)")
    parser.add_argument("--current-src", type=Path, default=CURRENT_SRC, help=f"the current tree's src ({CURRENT_SRC})")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, not figures to quote)")
    parser.add_argument("--no-hold", action="store_true", help="skip scenario 5 (1,000 open streams, a minute a side)")
    parser.add_argument("--no-history", action="store_true", help="skip scenario 8 (and its 1.3M-record seed)")
    parser.add_argument("--rounds", type=int, help="rounds per side and load (default 4, --quick 2)")
    parser.add_argument("--only", nargs="+", choices=[load.name for load in LOADS], help="run only these loads")
    parser.add_argument("--profile", action="store_true", help="also profile one load with py-spy")
    parser.add_argument("--profile-raw", type=Path, help="profile, and keep py-spy's collapsed stacks in this file")
    parser.add_argument(
        "--profile-scenario",
        nargs="+",
        default=["1-stream-c32"],
        choices=[load.name for load in LOADS],
        help="the loads to profile, one after the other",
    )
    parser.add_argument("--profile-side", default="current", choices=["baseline", "current"], help="whose server")
    parser.add_argument("--profile-concurrency", type=int, help="the profiled load's concurrency (default: its own)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        run_fast(lambda: main(args, results))
    finally:
        results["run_seconds"] = round(time.perf_counter() - started, 1)
        report.print_report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    cli()
