"""The chat benchmark: one run, direct-to-upstream against through Parley, same load, same run; one table.

Set-up (all of it torn down at the end): a fresh PostgreSQL database `parley_bench_<random>`, a unique Redis
prefix, the mock upstream (bench/upstream.py), `parley migrate`, and one pro user with an API key per Parley
load: no setting raises a plan's quota, so each load gets a fresh one and is capped to fit in it. `parley serve`
runs pinned to the first core; this process (the load generator) and the upstream share the second.

Scenarios (each run against the upstream directly, then through Parley with the same load):
1. streamed, concurrency 32: throughput;       2. non-streamed, concurrency 32: throughput;
3. streamed, concurrency 1: added TTFT/latency; 4. non-streamed, concurrency 1: added latency;
5. 1,000 streams held open against a slow upstream: Parley's RSS at peak against idle.
Then durability: every successful Parley reply left a usage record and an assistant message, and each user's
quota ledger matches the usage stored.

    .venv/bin/python bench/run.py [--quick] [--profile | --profile-raw stacks.txt] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from loadgen import Target, hold_streams, run_load
from redis.asyncio import Redis
from upstream import COMPLETION_TOKENS, PROMPT_TOKENS, raise_fd_limit, run_fast

BIN = Path(sys.executable).parent
UPSTREAM = Path(__file__).resolve().parent / "upstream.py"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "gpt-4o-mini"
COST = PROMPT_TOKENS + COMPLETION_TOKENS
"""Tokens Parley charges per reply: the usage the mock upstream reports."""
RESERVE = 200
"""Upper bound of one request's hold on the ledger (prompt estimate + max_tokens 50), for the cap's margin."""
MIB = 1024 * 1024
STATS_LAG = 1.0
"""Seconds PostgreSQL may take to publish a backend's statistics."""


@dataclass(frozen=True)
class Durations:
    throughput: float
    latency: float
    warmup: float
    streams: int = 1000
    delay_ms: float = 1000.0
    """Per chunk: a 50-chunk stream lasts 50 s, long enough for all of them to be open at once."""
    ramp: float = 5.0


FULL = Durations(throughput=10.0, latency=5.0, warmup=2.0)
QUICK = Durations(throughput=3.0, latency=2.0, warmup=1.0)


@dataclass
class Bench:
    """What the scenarios need: where things run, one API key per Parley load, and every result."""

    tmp: Path
    upstream_port: int
    parley_port: int
    server: asyncio.subprocess.Process
    keys: dict[str, str]
    remaining: dict[str, int]
    results: dict[str, Any]
    monitor: asyncpg.Connection
    """A connection to the benchmark's database that stays open, for counting the sessions Parley opens."""
    parley_ok: int = 0

    @property
    def pid(self) -> int:
        return self.server.pid

    def direct(self, *, stream: bool) -> Target:
        return Target.of(f"http://127.0.0.1:{self.upstream_port}/v1/chat/completions", "direct", stream=stream)

    def parley(self, user: str, *, stream: bool) -> Target:
        url = f"http://127.0.0.1:{self.parley_port}/v1/chat/completions"
        return Target.of(url, self.keys[user], stream=stream, model=MODEL)


# --- processes and services -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> tuple[int | None, int | None]:
    """(Parley's core, the load's core): the first two this process may use, or no pinning on one core."""
    usable = sorted(os.sched_getaffinity(0))
    return (usable[0], usable[1]) if len(usable) >= 2 else (None, None)


def pinned(core: int | None, *command: str | Path) -> list[str]:
    return ["taskset", "-c", str(core), *map(str, command)] if core is not None else [*map(str, command)]


def server_env(db: str, prefix: str, upstream_port: int, tmp: Path) -> dict[str, str]:
    """The environment of every `parley` command: nothing inherited from PARLEY_*/provider variables."""
    own = ("PARLEY_", "OPENAI_", "ANTHROPIC_", "STRIPE_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(own)}
    env.update(
        PARLEY_DATABASE_URL=PG_DSN.format(db=db).replace("postgresql://", "postgresql+asyncpg://"),
        PARLEY_REDIS_URL=REDIS_URL,
        PARLEY_REDIS_PREFIX=prefix,
        OPENAI_API_KEY="bench",
        OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
        PARLEY_RATE_LIMIT_ENABLED="false",
        PARLEY_DATABASE_POOL_SIZE="40",  # one connection per concurrent request at c=32, none opened under load
        PARLEY_CACHE_TTL_SECONDS="0",
        PARLEY_LOG_LEVEL="WARNING",
        PARLEY_SECRET_KEY=secrets.token_urlsafe(36),
        PARLEY_VAR_DIR=str(tmp / "var"),
    )
    return env


async def run_command(command: list[str], env: dict[str, str], cwd: Path, stdin: bytes = b"") -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(stdin)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output.decode()}")
    return output.decode()


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def stop(process: asyncio.subprocess.Process, seconds: float = 35.0) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(seconds):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


async def start_server(
    core: int | None, port: int, env: dict[str, str], cwd: Path, log_path: Path
) -> asyncio.subprocess.Process:
    """`parley serve` on its core, its output in `log_path`; returns once it accepts connections."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        server = await asyncio.create_subprocess_exec(
            *pinned(core, BIN / "parley", "serve", "--no-migrate", "--port", str(port)),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=log,
        )
    finally:
        os.close(log)

    async def ready() -> bool:
        if server.returncode is not None:
            raise RuntimeError(f"parley serve exited ({server.returncode}); see its log below")
        return await port_open(port)

    try:
        await wait_until(ready, "parley serve", seconds=60)
    except BaseException:
        await stop(server)
        raise
    return server


async def create_users(users: list[str], env: dict[str, str], cwd: Path, password: str) -> None:
    """`parley users create-admin` for each: verified admins (who can chat at once)."""
    for user in users:
        await run_command(
            [str(BIN / "parley"), "users", "create-admin", email(user)], env, cwd, f"{password}\n".encode()
        )


def email(user: str) -> str:
    return f"bench-{user}@example.com"


async def make_pro(client: httpx.AsyncClient, token: str, user: str, dsn: str) -> None:
    """Subscribe to pro through the local payment gateway; where billing is not served, set the plan in SQL."""
    answer = await client.post(
        "/api/billing/subscribe", json={"plan": "pro"}, headers={"Authorization": f"Bearer {token}"}
    )
    if answer.status_code in (404, 405):
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("UPDATE users SET plan = 'pro' WHERE email = $1", email(user))
        finally:
            await connection.close()
    else:
        answer.raise_for_status()


async def api_keys(port: int, users: list[str], password: str, dsn: str) -> tuple[dict[str, str], dict[str, int]]:
    """Per user: sign in, become pro, create an API key, and read the tokens left in the quota."""
    keys: dict[str, str] = {}
    remaining: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for user in users:
            signin = await client.post("/api/auth/signin", json={"email": email(user), "password": password})
            signin.raise_for_status()
            token = signin.json()["access_token"]
            await make_pro(client, token, user, dsn)
            created = await client.post(
                "/api/keys", json={"name": f"bench {user}"}, headers={"Authorization": f"Bearer {token}"}
            )
            created.raise_for_status()
            keys[user] = created.json()["key"]
            usage = await client.get("/api/usage", headers={"Authorization": f"Bearer {keys[user]}"})
            usage.raise_for_status()
            remaining[user] = int(usage.json()["remaining"])
    return keys, remaining


# --- process figures ------------------------------------------------------------------------------


def rss_bytes(pid: int, field_name: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field_name} for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (fields 14 and 15 of /proc/<pid>/stat, after the name)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def db_sessions(bench: Bench) -> int:
    """Sessions ever opened on the benchmark's database (PostgreSQL counts them as they begin)."""
    return int(await bench.monitor.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))


async def with_server_cpu(bench: Bench, load: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run a Parley load and add the share of one core the server used meanwhile (warm-up included) and how many
    database connections it opened (a pool that keeps too few connects again and again under load)."""
    cpu, wall, sessions = cpu_seconds(bench.pid), time.perf_counter(), await db_sessions(bench)
    result = await load
    result["server_cpu"] = round((cpu_seconds(bench.pid) - cpu) / (time.perf_counter() - wall), 3)
    await asyncio.sleep(STATS_LAG)
    result["db_connections_opened"] = await db_sessions(bench) - sessions
    bench.parley_ok += result["total_ok"]
    return result


# --- scenarios ------------------------------------------------------------------------------------


def quota_cap(bench: Bench, user: str, concurrency: int) -> int:
    """The most requests `user` can send without a quota error (429 insufficient_quota would skew the figures)."""
    return max(0, bench.remaining[user] - concurrency * RESERVE) // COST


async def throughput_and_latency(bench: Bench, plan: Durations) -> None:
    """Scenarios 1-4: the same load directly and through Parley, each with a fresh user's quota."""
    loads = [
        ("1-stream-c32", True, 32, plan.throughput),
        ("2-plain-c32", False, 32, plan.throughput),
        ("3-stream-c1", True, 1, plan.latency),
        ("4-plain-c1", False, 1, plan.latency),
    ]
    for name, stream, concurrency, seconds in loads:
        options = {"concurrency": concurrency, "duration": seconds, "warmup": plan.warmup}
        direct = await run_load(bench.direct(stream=stream), **options)
        parley = await with_server_cpu(
            bench,
            run_load(bench.parley(name, stream=stream), **options, max_requests=quota_cap(bench, name, concurrency)),
        )
        bench.results[name] = {"direct": direct, "parley": parley}
        print(f"  {name}: direct {direct['rps']:,.0f}/s, Parley {parley['rps']:,.1f}/s", file=sys.stderr)


async def held_streams(bench: Bench, plan: Durations) -> None:
    """Scenario 5: `streams` streams open at once against a slow upstream; Parley's RSS sampled meanwhile."""
    async with httpx.AsyncClient() as client:
        (await client.post(f"http://127.0.0.1:{bench.upstream_port}/_bench/delay/{plan.delay_ms}")).raise_for_status()
        try:
            direct = await hold_streams(bench.direct(stream=True), count=plan.streams, ramp=plan.ramp)
            idle = rss_bytes(bench.pid)
            hold = asyncio.ensure_future(
                with_server_cpu(
                    bench, hold_streams(bench.parley("5-hold", stream=True), count=plan.streams, ramp=plan.ramp)
                )
            )
            peak = idle
            while not hold.done():
                peak = max(peak, rss_bytes(bench.pid))
                await asyncio.wait([hold], timeout=0.02)
            parley = hold.result()
        finally:
            await client.post(f"http://127.0.0.1:{bench.upstream_port}/_bench/delay/0")
    parley.update(rss_idle=idle, rss_peak=peak, rss_hwm=rss_bytes(bench.pid, "VmHWM"))
    bench.results["5-hold"] = {"direct": direct, "parley": parley, "delay_ms": plan.delay_ms}
    print(f"  5-hold: Parley peak RSS {peak / MIB:.1f} MiB, {parley['peak_open']} open", file=sys.stderr)


async def profiled(bench: Bench, plan: Durations, keep: Path | None, concurrency: int = 32) -> dict[str, Any]:
    """Scenario 1 again (its own user; at another concurrency if asked) with py-spy recording the server; the
    table keeps the unprofiled run.
    `keep`: where to copy py-spy's raw collapsed stacks (flamegraph.pl and speedscope read them)."""
    py_spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if py_spy is None:
        return {"error": f"py-spy is not installed: {BIN / 'pip'} install py-spy"}
    output = bench.tmp / "profile.txt"
    seconds = plan.warmup + plan.throughput
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(bench.pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "100",
        "--format",
        "raw",
        "--nolineno",
        "--threads",
        "--output",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    load = await with_server_cpu(
        bench,
        run_load(
            bench.parley("profile", stream=True),
            concurrency=concurrency,
            duration=plan.throughput,
            warmup=plan.warmup,
            max_requests=quota_cap(bench, "profile", concurrency),
        ),
    )
    log, _ = await spy.communicate()
    if spy.returncode != 0 or not output.exists():
        return {"error": f"py-spy could not record (exit {spy.returncode}): {log.decode().strip()[-500:]}"}
    if keep is not None:
        shutil.copyfile(output, keep)
    return {"load": load, **summarise_profile(output.read_text())}


def summarise_profile(raw: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks, one thread per stack's first frame -> the event loop's functions with
    the most samples on top (own) and anywhere on the stack (total), as `function (file)`. Only the main
    thread counts: py-spy cannot tell idle threads here (the jobs worker's and executor's threads waiting on
    a condition are sampled as if busy), and the event loop is where a request's CPU goes."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = other = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        thread, *frames = stack.split(";")
        if not thread.endswith(": MainThread") or not frames:
            other += int(count_text)
            continue
        samples += int(count_text)
        own[frames[-1]] += int(count_text)
        packages[_package(frames[-1])] += int(count_text)
        for frame in set(frames):
            total[frame] += int(count_text)
    share = lambda counts: [  # noqa: E731
        {"function": frame, "percent": round(100 * n / max(samples, 1), 1)} for frame, n in counts.most_common(15)
    ]
    ours = Counter({frame: n for frame, n in total.items() if _is_parley(frame)})
    return {
        "samples": samples,
        "other_thread_samples": other,
        "own": share(own),
        "total_parley": share(ours),
        "own_by_package": share(packages),
    }


def _package(frame: str) -> str:
    """`send (uvicorn/protocols/http/httptools_impl.py)` -> `uvicorn`; a module on its own keeps its name."""
    path = frame.rpartition("(")[2].rstrip(")")
    return path.split("/", 1)[0] if "/" in path else path


def _is_parley(frame: str) -> bool:
    return any(f"({layer}/" in frame for layer in ("domain", "application", "adapters", "entrypoints"))


# --- durability -----------------------------------------------------------------------------------


async def durability(bench: Bench) -> dict[str, Any]:
    """Every successful Parley reply must have left a usage record and an assistant message, and each user's
    quota ledger must show exactly the tokens its usage records hold (reservations all settled)."""
    counts: dict[str, int] = {}
    for _ in range(50):  # replies cut off by the client are accounted in the background: let them land
        counts = dict(
            await bench.monitor.fetchrow(
                "SELECT (SELECT count(*) FROM usage_records) AS usage_records,"
                " (SELECT count(*) FROM messages WHERE role = 'assistant') AS assistant_messages,"
                " (SELECT count(*) FROM messages WHERE role = 'user') AS user_messages"
            )
        )
        if counts["usage_records"] >= bench.parley_ok:
            break
        await asyncio.sleep(0.2)
    stored = {
        row["email"]: int(row["tokens"])
        for row in await bench.monitor.fetch(
            "SELECT u.email, coalesce(sum(r.prompt_tokens + r.completion_tokens), 0) AS tokens"
            " FROM users u LEFT JOIN usage_records r ON r.user_id = u.id GROUP BY u.email"
        )
    }
    ledger: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bench.parley_port}", timeout=30) as client:
        for user, key in bench.keys.items():
            answer = await client.get("/api/usage", headers={"Authorization": f"Bearer {key}"})
            answer.raise_for_status()
            ledger[email(user)] = answer.json()["used"]
    mismatched = {user: (ledger[user], stored.get(user, 0)) for user in ledger if ledger[user] != stored.get(user, 0)}
    return {"successful_replies": bench.parley_ok, **counts, "ledger_mismatches": mismatched}


# --- the table ------------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.1f}/s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """(scenario, direct, Parley, Parley against direct, target, Parley errors, result)."""
    out: list[tuple[str, ...]] = []

    def verdict(met: bool, errors: int, capped: bool = False) -> str:
        return ("PASS" if met and not errors else "MISS") + (" (capped by quota)" if capped else "")

    for name, label, target in (("1-stream-c32", "1 streamed c=32", 150), ("2-plain-c32", "2 non-stream c=32", 300)):
        if name in results:
            d, p = results[name]["direct"], results[name]["parley"]
            ratio = f"{p['rps'] / d['rps']:.3f}x" if d["rps"] else "-"
            met = p["rps"] >= target
            out.append(
                (
                    label,
                    _rate(d["rps"]),
                    _rate(p["rps"]),
                    ratio,
                    f">= {target}/s",
                    str(p["errors"]),
                    verdict(met, p["errors"], p["capped"]),
                )
            )
    for name, label, metric, target in (
        ("3-stream-c1", "3 streamed c=1 TTFT p50", "ttft_ms", 3.0),
        ("3-stream-c1", "3 streamed c=1 latency p50", "latency_ms", None),
        ("4-plain-c1", "4 non-stream c=1 latency p50", "latency_ms", 4.0),
    ):
        if name in results:
            d, p = results[name]["direct"], results[name]["parley"]
            dv, pv = d[metric]["p50"], p[metric]["p50"]
            added = None if dv is None or pv is None else pv - dv
            shown = "-" if added is None else f"+{added:.2f} ms"
            if target is None:
                out.append((label, _ms(dv), _ms(pv), shown, "-", str(p["errors"]), "-"))
            else:
                met = added is not None and added <= target
                out.append(
                    (label, _ms(dv), _ms(pv), shown, f"<= +{target:g} ms", str(p["errors"]), verdict(met, p["errors"]))
                )
    if "5-hold" in results:
        d, p = results["5-hold"]["direct"], results["5-hold"]["parley"]
        n = p["streams"]
        met = p["rss_peak"] < 500 * MIB and p["peak_open"] == n
        out.append(
            (
                f"5 {n:,} open streams: RSS",
                f"idle {p['rss_idle'] / MIB:.0f} MiB",
                f"peak {p['rss_peak'] / MIB:.0f} MiB",
                f"+{(p['rss_peak'] - p['rss_idle']) / MIB:.0f} MiB",
                "< 500 MiB",
                str(p["errors"]),
                verdict(met, p["errors"]),
            )
        )
        out.append(
            (
                "5 streams open at once",
                str(d["peak_open"]),
                str(p["peak_open"]),
                f"{p['peak_open'] / max(d['peak_open'], 1):.2f}x",
                f"{n}",
                str(p["errors"]),
                verdict(p["peak_open"] == n, p["errors"]),
            )
        )
    if "durability" in results:
        dur = results["durability"]
        ok = dur["successful_replies"]
        met = dur["usage_records"] == ok and dur["assistant_messages"] == ok and not dur["ledger_mismatches"]
        stored = f"{dur['usage_records']} usage, {dur['assistant_messages']} replies"
        out.append(("durability (stored = replied)", f"{ok} replied", stored, "-", "equal", "-", verdict(met, 0)))
    return out


def table(lines: list[tuple[str, ...]]) -> str:
    header = ("scenario", "direct", "Parley", "vs direct", "target", "errors", "result")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    render = lambda row: "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))  # noqa: E731
    return "\n".join([render(header), "  ".join("-" * w for w in widths), *map(render, lines)])


def details(results: dict[str, Any]) -> str:
    lines = []
    for name, result in results.items():
        if not isinstance(result, dict) or "parley" not in result:
            continue
        for side in ("direct", "parley"):
            r = result[side]
            line = f"{name:<13} {side:<6} ok={r['total_ok']:<6} errors={r['errors']:<4}"
            if r["mode"] != "plain":
                line += " ttft p50/p95/p99 {p50}/{p95}/{p99} ms".format(**r["ttft_ms"])
            line += " latency p50/p95/p99 {p50}/{p95}/{p99} ms".format(**r["latency_ms"])
            if r["mode"] == "hold":
                line += f", {r['peak_open']} open at once, all open after {r['all_open_after_s']} s"
            if "server_cpu" in r:
                line += f", server CPU {r['server_cpu']:.0%} of a core"
                line += f", {r['db_connections_opened']} database connections opened"
            lines.append(line)
            if r.get("failures"):
                lines.append(f"{'':<20} failures {r['failures']}; e.g. {r['error_samples'][:2]}")
    return "\n".join(lines)


def server_log_summary(path: Path, limit: int = 20) -> str:
    """The server's warnings and errors, grouped by event, with one example of each."""
    if not path.exists():
        return "(no server log)"
    groups: Counter[str] = Counter()
    example: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            key = f"{entry.get('level', '?')} {entry.get('event', '?')}"
        except (json.JSONDecodeError, AttributeError):
            key = line[:120]
        groups[key] += 1
        example.setdefault(key, line[:600])
    if not groups:
        return "(the server logged nothing at WARNING or above)"
    return "\n".join(f"{count:>6} x {key}\n         {example[key]}" for key, count in groups.most_common(limit))


def print_profile(profile: dict[str, Any]) -> None:
    print("\nProfile (py-spy record, 100 Hz, scenario 1 repeated with its own user):")
    if "error" in profile:
        print(f"  {profile['error']}")
        return
    load = profile["load"]
    print(
        f"  profiled load: {load['rps']:,.1f} streams/s, server CPU {load['server_cpu']:.0%};"
        f" {profile['samples']} event-loop samples ({profile['other_thread_samples']} in other threads, left out)"
    )
    print("  top by own time (% of event-loop samples):")
    for entry in profile["own"]:
        print(f"    {entry['percent']:5.1f}%  {entry['function']}")
    print("  Parley's code by total time (on the stack):")
    for entry in profile["total_parley"]:
        print(f"    {entry['percent']:5.1f}%  {entry['function']}")
    print("  own time by package (the sampled function's top-level package or module):")
    for entry in profile["own_by_package"]:
        print(f"    {entry['percent']:5.1f}%  {entry['function']}")


# --- the run --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Set up, run every scenario into `results`, tear down (also when a step fails)."""
    plan = QUICK if args.quick else FULL
    parley_core, load_core = cores()
    if load_core is not None:
        os.sched_setaffinity(0, {load_core})
    else:
        print("warning: one core only; nothing is pinned, figures are not comparable", file=sys.stderr)
    db = f"parley_bench_{secrets.token_hex(4)}"
    prefix = f"parley_bench_{secrets.token_hex(4)}:"
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    password = secrets.token_urlsafe(18)
    upstream_port, parley_port = free_port(), free_port()
    users = (
        ["1-stream-c32", "2-plain-c32", "3-stream-c1", "4-plain-c1"]
        + ([] if args.no_hold else ["5-hold"])
        + (["profile"] if args.profile or args.profile_raw else [])
    )
    admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
    await admin.execute(f'CREATE DATABASE "{db}"')
    processes: list[asyncio.subprocess.Process] = []
    monitor: asyncpg.Connection | None = None
    results.update(database=db, quick=args.quick)
    log_path = tmp / "server.log"
    try:
        upstream = await asyncio.create_subprocess_exec(
            *pinned(load_core, sys.executable, UPSTREAM, "--port", str(upstream_port)), cwd=tmp
        )
        processes.append(upstream)
        await wait_until(lambda: port_open(upstream_port), "the mock upstream")
        env = server_env(db, prefix, upstream_port, tmp)
        print(f"database {db}, Redis prefix {prefix}; migrating and creating {len(users)} users", file=sys.stderr)
        await run_command([str(BIN / "parley"), "migrate"], env, tmp)
        await create_users(users, env, tmp, password)
        server = await start_server(parley_core, parley_port, env, tmp, log_path)
        processes.append(server)
        keys, remaining = await api_keys(parley_port, users, password, PG_DSN.format(db=db))
        results["quota_remaining"] = remaining
        monitor = await asyncpg.connect(PG_DSN.format(db=db))
        bench = Bench(tmp, upstream_port, parley_port, server, keys, remaining, results, monitor)
        results["rss_fresh"] = rss_bytes(server.pid)
        print(f"parley serve pid {server.pid} on core {parley_core}; load on core {load_core}", file=sys.stderr)
        await throughput_and_latency(bench, plan)
        if args.profile or args.profile_raw:
            results["profile"] = await profiled(bench, plan, args.profile_raw, args.profile_concurrency)
        if not args.no_hold:
            await held_streams(bench, plan)
        results["durability"] = await durability(bench)
    finally:
        for process in reversed(processes):
            await stop(process)
        if monitor is not None:
            await monitor.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(REDIS_URL)
        leftovers = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if leftovers:
            await redis.delete(*leftovers)
        await redis.aclose()
        results["server_log"] = server_log_summary(log_path)
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[str, Any]) -> None:
    print()
    print(table(rows(results)))
    print("\nDetails (p50/p95/p99 in ms over the measured window; ok counts include warm-up):")
    print(details(results))
    if "durability" in results:
        print(f"durability: {results['durability']}")
    if "rss_fresh" in results:
        print(f"Parley RSS right after start: {results['rss_fresh'] / MIB:.1f} MiB")
    if "profile" in results:
        print_profile(results["profile"])
    print("\nServer log (WARNING and above):")
    print(results.get("server_log", "(not read)"))


def cli() -> None:
    parser = argparse.ArgumentParser(description="Parley chat benchmark: direct-to-upstream against through Parley.")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, not figures to quote)")
    parser.add_argument("--profile", action="store_true", help="also profile scenario 1 with py-spy")
    parser.add_argument("--profile-raw", type=Path, help="profile, and keep py-spy's collapsed stacks in this file")
    parser.add_argument("--profile-concurrency", type=int, default=32, help="the profiled load's concurrency")
    parser.add_argument("--no-hold", action="store_true", help="skip scenario 5 (1,000 open streams, about a minute)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {}
    try:
        run_fast(lambda: main(args, results))
    finally:
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    cli()
