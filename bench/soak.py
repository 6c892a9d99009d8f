"""The soak benchmark (issue 13): the production shape on one machine, under a realistic mix for minutes.

Two `parley serve` processes and one `parley worker` on PostgreSQL (a fresh database `parley_soak_<run>`),
Redis (the prefix `parley_soak_<run>:`) and RabbitMQ (the queue `parley-soak-<run>`), with bench/upstream.py
(paced: one token every 2 ms) as the only provider. In this process, N simulated users (asyncio + httpx), each
with a verified pro account written in SQL up front, sign in and then, with a think time between actions, list
their conversations, stream chats (POST /api/chat, stream: true, continuing a conversation or starting one),
read GET /api/usage and GET /api/models, now and then sign in again; a trickle of visitors signs up (each sign-up
puts a verification email in the outbox, which the relay publishes and the worker sends). Users alternate
between the two API processes (user i starts on process i mod 2, and moves to the other one when its own stops
answering).

Sampled every few seconds: the RSS of the three processes and the outbox backlog (the age of the oldest
unpublished message). At the end: per-route latency percentiles, the error counts, and the durability check
(every reply a client saw complete is stored exactly once, with the tokens the client was told).

`--kill`: halfway through, SIGKILL the second API process. Requests in flight on it, and each moved user's first
request to it after the kill, are counted apart (`kill` errors); everything else must not fail. Replies cut by
the kill may or may not be stored, but never twice.

    .venv/bin/python bench/soak.py [--users 200] [--seconds 300] [--kill] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pika
from redis.asyncio import Redis
from servers import (
    BIN,
    CURRENT_SRC,
    PG_DSN,
    REDIS_URL,
    SEED_REVISION,
    SeedUser,
    Side,
    cpu_seconds,
    free_port,
    insert_users,
    migrate,
    period_now,
    port_open,
    rss_bytes,
    server_env,
    start_server,
    stop,
    wait_until,
)
from upstream import raise_fd_limit, run_fast

UPSTREAM = Path(__file__).resolve().parent / "upstream.py"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
API_POOL = (16, 4)
"""Database pool per API process (size, overflow): 2 x 20 + the worker's + this process's two stay well under
PostgreSQL's 100, which four other engineers' test runs share."""
WORKER_POOL = (4, 2)
SAMPLE_SECONDS = 2.0
RSS_WINDOW = 5
MODEL = "gpt-4o-mini"
ROUTES = ("signin", "signup", "conversations", "chat", "usage", "models")
MIX = (("chat", 40), ("conversations", 25), ("usage", 15), ("models", 15), ("signin", 0.5))
"""What a signed-in user does next, by weight. Sign-ins are rare (a real client refreshes its token instead),
and must be: each one holds its process's event loop for the whole argon2 check (see bench/README.md, Soak)."""
SIGNUP_EVERY_SECONDS = 5.0
"""One anonymous visitor signs up every this many seconds (the outbox's steady trickle)."""
KILL_GRACE_SECONDS = 1.0
"""After the kill, requests already on their way to the killed process fail too (until it is marked down)."""
CONVERSATION_TURNS = 8
"""A user continues its conversation until it has this many turns, then starts a new one."""


@dataclass
class Request:
    route: str
    server: int
    started: float
    """Seconds since the load began."""
    seconds: float
    ok: bool
    error: str = ""
    ttft: float | None = None
    detail: str = ""
    """An HTTP error's body."""

    def sample(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "server": self.server,
            "at": round(self.started, 2),
            "error": self.error,
            "detail": self.detail,
        }


@dataclass
class Load:
    """Everything the clients saw."""

    begin: float = 0.0
    killed_at: float | None = None
    killed_server: int | None = None
    requests: list[Request] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    """message_id -> total tokens, of every `done` event received."""
    done_users: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """email -> tokens the `done` events told that user."""
    cut: set[str] = field(default_factory=set)
    """message_ids of streams that started (a `start` event) and ended without `done`."""
    failovers: int = 0

    def now(self) -> float:
        return time.monotonic() - self.begin


class Cluster:
    def __init__(self, ports: list[int]) -> None:
        self.bases = [f"http://127.0.0.1:{port}" for port in ports]
        self.down: set[int] = set()


@dataclass
class User:
    index: int
    email: str
    password: str
    server: int
    token: str = ""
    conversation: str | None = None
    turns: int = 0


class Failed(Exception):
    pass


async def call(
    client: httpx.AsyncClient,
    cluster: Cluster,
    load: Load,
    user: User | None,
    route: str,
    method: str,
    path: str,
    **kwargs: Any,
) -> httpx.Response | None:
    server = user.server if user is not None else random.randrange(len(cluster.bases))
    if server in cluster.down:
        server = next(i for i in range(len(cluster.bases)) if i not in cluster.down)
    started = time.monotonic()
    try:
        response = await client.request(method, cluster.bases[server] + path, **kwargs)
    except httpx.TransportError as error:
        record_failure(load, cluster, user, route, server, started, f"{type(error).__name__}")
        return None
    seconds = time.monotonic() - started
    ok = response.status_code < 400
    status, detail = ("", "") if ok else (str(response.status_code), response.text[:300])
    load.requests.append(Request(route, server, started - load.begin, seconds, ok, status, detail=detail))
    return response


def record_failure(
    load: Load,
    cluster: Cluster,
    user: User | None,
    route: str,
    server: int,
    started: float,
    error: str,
    ttft: float | None = None,
) -> None:
    at = started - load.begin
    load.requests.append(Request(route, server, at, time.monotonic() - started, False, error, ttft))
    if user is not None and user.server == server and len(cluster.bases) > 1:
        other = (server + 1) % len(cluster.bases)
        if other not in cluster.down:  # fail over: this user's next requests go to the other process
            user.server = other
            load.failovers += 1


async def sign_in(client: httpx.AsyncClient, cluster: Cluster, load: Load, user: User) -> None:
    answer = await call(
        client,
        cluster,
        load,
        user,
        "signin",
        "POST",
        "/api/auth/signin",
        json={"email": user.email, "password": user.password},
    )
    if answer is not None and answer.status_code == 200:
        user.token = answer.json()["access_token"]


async def chat(client: httpx.AsyncClient, cluster: Cluster, load: Load, user: User) -> None:
    server = user.server if user.server not in cluster.down else 1 - user.server
    body: dict[str, Any] = {
        "content": f"soak {uuid.uuid4().hex} tell me something",
        "model": MODEL,
        "max_tokens": 50,
        "stream": True,
    }
    if user.conversation and user.turns < CONVERSATION_TURNS:
        body["conversation_id"] = user.conversation
    else:
        user.conversation, user.turns = None, 0
    started = time.monotonic()
    message_id: str | None = None
    ttft: float | None = None
    done = False
    event = ""
    try:
        async with client.stream(
            "POST", cluster.bases[server] + "/api/chat", json=body, headers={"Authorization": f"Bearer {user.token}"}
        ) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                took = time.monotonic() - started
                error = str(response.status_code)
                load.requests.append(
                    Request("chat", server, started - load.begin, took, False, error, detail=text[:300])
                )
                return
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    if event == "start":
                        message_id = data["message_id"]
                        user.conversation = data["conversation_id"]
                    elif event == "delta" and ttft is None:
                        ttft = time.monotonic() - started
                    elif event == "done":
                        tokens = int(data["usage"]["total_tokens"])
                        load.done[data["message_id"]] = tokens
                        load.done_users[user.email] += tokens
                        done = True
                    elif event == "error":
                        raise Failed(f"error event {data.get('type')}: {data.get('detail')}")
    except (httpx.TransportError, Failed, json.JSONDecodeError) as error:
        if message_id is not None and not done:
            load.cut.add(message_id)
        record_failure(load, cluster, user, "chat", server, started, f"{type(error).__name__}: {error}"[:200], ttft)
        return
    if not done:
        if message_id is not None:
            load.cut.add(message_id)
        record_failure(load, cluster, user, "chat", server, started, "stream ended without done", ttft)
        return
    user.turns += 1
    load.requests.append(Request("chat", server, started - load.begin, time.monotonic() - started, True, "", ttft))


async def sign_in_everyone(client: httpx.AsyncClient, cluster: Cluster, users: list[User]) -> dict[str, Any]:
    """Every user signs in before the load, two at a time per process (argon2 costs ~0.1-0.6 s each)."""
    gates = [asyncio.Semaphore(2) for _ in cluster.bases]
    took: list[float] = []
    started = time.monotonic()

    async def one(user: User) -> None:
        async with gates[user.server]:
            begun = time.monotonic()
            answer = await client.post(
                cluster.bases[user.server] + "/api/auth/signin", json={"email": user.email, "password": user.password}
            )
            answer.raise_for_status()
            took.append((time.monotonic() - begun) * 1000)
            user.token = answer.json()["access_token"]

    await asyncio.gather(*(one(user) for user in users))
    return {
        "seconds": round(time.monotonic() - started, 1),
        "p50_ms": round(percentile(took, 50) or 0, 1),
        "p95_ms": round(percentile(took, 95) or 0, 1),
    }


async def user_loop(
    client: httpx.AsyncClient, cluster: Cluster, load: Load, user: User, until: float, think: float, ramp: float
) -> None:
    await asyncio.sleep(random.uniform(0, ramp))
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    while load.now() < until:
        await asyncio.sleep(random.uniform(0.5, 1.5) * think)
        if load.now() >= until:
            break
        action = random.choices(names, weights)[0]
        auth = {"Authorization": f"Bearer {user.token}"}
        if action == "chat":
            await chat(client, cluster, load, user)
        elif action == "conversations":
            await call(client, cluster, load, user, "conversations", "GET", "/api/conversations?limit=20", headers=auth)
        elif action == "usage":
            await call(client, cluster, load, user, "usage", "GET", "/api/usage", headers=auth)
        elif action == "models":
            await call(client, cluster, load, user, "models", "GET", "/api/models", headers=auth)
        else:
            await sign_in(client, cluster, load, user)


async def visitors(client: httpx.AsyncClient, cluster: Cluster, load: Load, until: float) -> None:
    while load.now() < until:
        await asyncio.sleep(random.uniform(0.5, 1.5) * SIGNUP_EVERY_SECONDS)
        email = f"soak-visitor-{uuid.uuid4().hex[:12]}@example.com"
        await call(
            client,
            cluster,
            load,
            None,
            "signup",
            "POST",
            "/api/auth/signup",
            json={"email": email, "password": secrets.token_urlsafe(18)},
        )


# --- sampling -------------------------------------------------------------------------------------


async def sampler(
    load: Load, pids: dict[str, int], monitor: asyncpg.Connection, until: float, samples: dict[str, Any]
) -> None:
    while load.now() < until:
        at = round(load.now(), 1)
        for name, pid in pids.items():
            with contextlib.suppress(OSError, RuntimeError):  # the killed process has no /proc entry
                samples["rss"][name].append((at, rss_bytes(pid)))
                samples["cpu"][name].append((at, cpu_seconds(pid)))
        row = await monitor.fetchrow(
            "SELECT count(*) AS depth, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
            " FROM outbox WHERE published_at IS NULL"
        )
        samples["outbox"].append((at, int(row["depth"]), round(float(row["age"]), 3)))
        await asyncio.sleep(SAMPLE_SECONDS)


async def killer(load: Load, processes: list[asyncio.subprocess.Process], cluster: Cluster, at: float) -> None:
    await asyncio.sleep(max(0.0, at - load.now()))
    victim = len(processes) - 1
    os.kill(processes[victim].pid, signal.SIGKILL)
    load.killed_at, load.killed_server = load.now(), victim
    print(f"  killed API process {victim} (pid {processes[victim].pid}) at {load.killed_at:.1f} s", file=sys.stderr)
    await processes[victim].wait()


# --- figures --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def kill_error(load: Load, request: Request) -> bool:
    """A failure the kill explains: a broken connection (no HTTP status) on the killed process, for a request
    in flight at the kill or sent in the moment before the clients saw the process gone."""
    if load.killed_at is None or request.ok or request.server != load.killed_server:
        return False
    return request.started <= load.killed_at + KILL_GRACE_SECONDS and not request.error.isdigit()


def figures(load: Load, seconds: float, warmup: float, samples: dict[str, Any]) -> dict[str, Any]:
    routes: dict[str, Any] = {}
    kill_errors = [r for r in load.requests if kill_error(load, r)]
    other_errors = [r for r in load.requests if not r.ok and r not in kill_errors]
    for route in ROUTES:
        measured = [r for r in load.requests if r.route == route]
        ok = [r.seconds * 1000 for r in measured if r.ok]
        entry: dict[str, Any] = {
            "requests": len(measured),
            "per_second": round(len(measured) / seconds, 1),
            "errors": sum(1 for r in measured if not r.ok and r not in kill_errors),
            "kill_errors": sum(1 for r in kill_errors if r.route == route),
        }
        for q in (50, 95, 99):
            value = percentile(ok, q)
            entry[f"p{q}_ms"] = None if value is None else round(value, 1)
        if route == "chat":
            ttfts = [r.ttft * 1000 for r in measured if r.ok and r.ttft is not None]
            for q in (50, 95, 99):
                value = percentile(ttfts, q)
                entry[f"ttft_p{q}_ms"] = None if value is None else round(value, 1)
        routes[route] = entry
    total = len(load.requests)
    rss: dict[str, Any] = {}
    for name, series in samples["rss"].items():
        after = [value for at, value in series if at >= warmup]
        if not after:
            continue
        # medians of the first and the last RSS_WINDOW samples: a sign-in holds argon2's 64 MiB for its check,
        # so a single sample may catch one; the peak shows it
        first = statistics.median(after[:RSS_WINDOW])
        last = statistics.median(after[-RSS_WINDOW:])
        rss[name] = {
            "first_after_warmup_mib": round(first / 2**20, 1),
            "last_mib": round(last / 2**20, 1),
            "last_at_s": [at for at, _ in series][-1],
            "peak_mib": round(max(v for _, v in series) / 2**20, 1),
            "change_pct": round((last - first) / first * 100, 1),
        }
    cpu: dict[str, Any] = {}
    for name, series in samples["cpu"].items():
        if len(series) >= 2:
            (t0, c0), (t1, c1) = series[0], series[-1]
            cpu[name] = round((c1 - c0) / (t1 - t0) * 100, 1) if t1 > t0 else None
    ages = [age for _, _, age in samples["outbox"]]
    after_kill = [r for r in load.requests if load.killed_at is not None and r.started > load.killed_at]
    return {
        "requests": total,
        "requests_per_second": round(total / seconds, 1),
        "errors": len(other_errors),
        "error_rate": round(len(other_errors) / total, 6) if total else None,
        "kill_errors": len(kill_errors),
        "failovers": load.failovers,
        "killed_at_s": None if load.killed_at is None else round(load.killed_at, 1),
        "errors_after_kill_not_explained": sum(1 for r in other_errors if r in after_kill),
        "routes": routes,
        "rss": rss,
        "cpu_percent": cpu,
        "outbox": {
            "max_age_s": max(ages) if ages else None,
            "p95_age_s": percentile(ages, 95),
            "max_depth": max((d for _, d, _ in samples["outbox"]), default=None),
            "samples": len(ages),
        },
        "error_samples": [r.sample() for r in other_errors[:20]],
        "kill_error_samples": [r.sample() for r in kill_errors[:5]],
    }


async def durability(load: Load, monitor: asyncpg.Connection, cluster: Cluster, users: list[User]) -> dict[str, Any]:
    """Every `done` the clients saw is one assistant message and one usage record, with the tokens the client
    was told; anything stored beyond those is a reply cut (by the kill) and stored at most once."""
    for _ in range(50):  # a reply cut by a client is accounted in the background: let it land
        stored = await monitor.fetchval("SELECT count(*) FROM usage_records")
        if stored >= len(load.done):
            break
        await asyncio.sleep(0.2)  # polling the database: no event says when the background work is done
    await asyncio.sleep(2)
    messages = {str(r["id"]) for r in await monitor.fetch("SELECT id FROM messages WHERE role = 'assistant'")}
    records = await monitor.fetch(
        "SELECT message_id, prompt_tokens + completion_tokens AS tokens, user_id FROM usage_records"
    )
    per_message: dict[str, list[int]] = defaultdict(list)
    for row in records:
        per_message[str(row["message_id"])].append(int(row["tokens"]))
    duplicated = {m: len(t) for m, t in per_message.items() if len(t) > 1}
    seen = set(load.done)
    missing_messages = sorted(seen - messages)
    missing_records = sorted(seen - set(per_message))
    token_mismatch = {
        m: (load.done[m], per_message[m]) for m in seen & set(per_message) if sum(per_message[m]) != load.done[m]
    }
    extra = set(per_message) - seen
    extra_not_cut = sorted(extra - load.cut)
    ledger: dict[str, tuple[int, int]] = {}
    stored_by_user = {
        r["email"]: int(r["tokens"])
        for r in await monitor.fetch(
            "SELECT u.email, coalesce(sum(r.prompt_tokens + r.completion_tokens), 0) AS tokens FROM users u"
            " LEFT JOIN usage_records r ON r.user_id = u.id AND NOT r.cached GROUP BY u.email"
        )
    }
    alive = next(i for i in range(len(cluster.bases)) if i not in cluster.down)
    async with httpx.AsyncClient(base_url=cluster.bases[alive], timeout=60) as client:
        for user in users:
            if not user.token:
                continue
            answer = await client.get("/api/usage", headers={"Authorization": f"Bearer {user.token}"})
            if answer.status_code == 200 and answer.json()["used"] != stored_by_user.get(user.email, 0):
                ledger[user.email] = (answer.json()["used"], stored_by_user.get(user.email, 0))
    done_tokens = sum(load.done.values())
    stored_tokens_of_done = sum(sum(per_message[m]) for m in seen & set(per_message))
    return {
        "done_events": len(load.done),
        "assistant_messages": len(messages),
        "usage_records": len(records),
        "done_tokens": done_tokens,
        "stored_tokens": sum(int(r["tokens"]) for r in records),
        "stored_tokens_of_done": stored_tokens_of_done,
        "cut_streams": len(load.cut),
        "cut_stored": len(extra & load.cut),
        "duplicated_usage_records": len(duplicated),
        "missing_messages": len(missing_messages),
        "missing_usage_records": len(missing_records),
        "token_mismatches": len(token_mismatch),
        "stored_not_seen_and_not_cut": len(extra_not_cut),
        "ledger_mismatches": len(ledger),
        "ledger_mismatch_samples": dict(list(ledger.items())[:5]),
        "examples": {"missing": missing_records[:5], "duplicated": list(duplicated)[:5], "extra": extra_not_cut[:5]},
        "holds": not (duplicated or missing_messages or missing_records or token_mismatch or extra_not_cut)
        and stored_tokens_of_done == done_tokens,
    }


def print_report(results: dict[str, Any]) -> None:
    out = sys.stdout
    setup = results.get("setup", {})
    print(
        f"\nsoak: {setup.get('users')} users, {setup.get('seconds')} s, kill={setup.get('kill')},"
        f" think {setup.get('think')} s; run {results.get('run_seconds')} s",
        file=out,
    )
    if "signin" in setup:
        signin = setup["signin"]
        print(
            f"set-up: every user signed in in {signin['seconds']} s (p50 {signin['p50_ms']} ms, p95"
            f" {signin['p95_ms']} ms), database built in {setup.get('build_s')} s",
            file=out,
        )
    summary = results.get("summary")
    if not summary:
        print(f"no figures: {results.get('error', 'the run failed before the load')}", file=out)
        return
    print(
        f"requests {summary['requests']} ({summary['requests_per_second']}/s), errors {summary['errors']}"
        f" (rate {summary['error_rate']}), kill errors {summary['kill_errors']}, failovers {summary['failovers']},"
        f" killed at {summary['killed_at_s']} s",
        file=out,
    )
    header = (
        f"{'route':<14}{'requests':>9}{'/s':>7}{'errors':>7}{'kill':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  target"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for route, entry in summary["routes"].items():
        target = "p95 < 100 ms" if route not in ("chat", "signin", "signup") else ""
        if route in ("signin", "signup"):
            target = "(argon2)"
        if route == "chat":
            target = f"TTFT p50/p95/p99 {entry['ttft_p50_ms']}/{entry['ttft_p95_ms']}/{entry['ttft_p99_ms']} ms"
        verdict = ""
        if target.startswith("p95") and entry["p95_ms"] is not None:
            verdict = " PASS" if entry["p95_ms"] < 100 else " FAIL"
        print(
            f"{route:<14}{entry['requests']:>9}{entry['per_second']:>7}{entry['errors']:>7}{entry['kill_errors']:>6}"
            f"{_ms(entry['p50_ms']):>9}{_ms(entry['p95_ms']):>9}{_ms(entry['p99_ms']):>9}  {target}{verdict}",
            file=out,
        )
    print("\nRSS after warm-up (first -> last, change; target within 10%):", file=out)
    for name, entry in summary["rss"].items():
        verdict = "PASS" if abs(entry["change_pct"]) <= 10 else "FAIL"
        print(
            f"  {name:<8} {entry['first_after_warmup_mib']} -> {entry['last_mib']} MiB at {entry['last_at_s']} s"
            f" ({entry['change_pct']:+}%), peak {entry['peak_mib']} MiB  {verdict}",
            file=out,
        )
    cpu = ", ".join(f"{name} {value}%" for name, value in summary["cpu_percent"].items())
    print(
        f"CPU over the load (100% = one core): {cpu}; load average at start {setup.get('load_average_at_start')}",
        file=out,
    )
    outbox = summary["outbox"]
    age_ok = outbox["max_age_s"] is not None and outbox["max_age_s"] < 5
    print(
        f"outbox: oldest unpublished max {outbox['max_age_s']} s (p95 {outbox['p95_age_s']} s), depth max"
        f" {outbox['max_depth']}, {outbox['samples']} samples (target < 5 s)  {'PASS' if age_ok else 'FAIL'}",
        file=out,
    )
    d = results.get("durability")
    if d:
        print(
            f"durability: done {d['done_events']}, assistant messages {d['assistant_messages']}, usage records"
            f" {d['usage_records']}; tokens told {d['done_tokens']}, stored for them {d['stored_tokens_of_done']}"
            f" (all stored {d['stored_tokens']}); cut {d['cut_streams']} (stored {d['cut_stored']}); duplicated"
            f" {d['duplicated_usage_records']}, missing {d['missing_usage_records']}/{d['missing_messages']},"
            f" stored unexplained {d['stored_not_seen_and_not_cut']}, quota ledger mismatches"
            f" {d['ledger_mismatches']}  {'PASS' if d['holds'] else 'FAIL'}",
            file=out,
        )
    for sample in summary["error_samples"][:8]:
        print(f"  error: {sample}", file=out)
    for sample in summary["kill_error_samples"][:3]:
        print(f"  kill error: {sample}", file=out)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


# --- the run --------------------------------------------------------------------------------------


def delete_queues(name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for queue in (name, f"{name}.DQ", f"{name}.XQ"):
            channel.queue_delete(queue=queue)
    finally:
        connection.close()


async def start_worker(env: dict[str, str], tmp: Path) -> asyncio.subprocess.Process:
    log = os.open(tmp / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return await asyncio.create_subprocess_exec(
            str(BIN / "parley"), "worker", env=env, cwd=tmp, stdout=log, stderr=log
        )
    finally:
        os.close(log)


def log_tail(path: Path, lines: int = 15) -> list[str]:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    interesting = [
        line for line in text if "error" in line.lower() or "Traceback" in line or "exception" in line.lower()
    ]
    return interesting[-lines:]


async def main(args: argparse.Namespace, results: dict[str, Any]) -> None:
    run_id = secrets.token_hex(4)
    db, prefix, queue = f"parley_soak_{run_id}", f"parley_soak_{run_id}:", f"parley-soak-{run_id}"
    tmp = Path(tempfile.mkdtemp(prefix="parley-soak-"))
    upstream_port = free_port()
    env = server_env(CURRENT_SRC, db, prefix, upstream_port, tmp)
    env.update(
        PARLEY_BROKER_URL=RABBITMQ_URL,
        PARLEY_JOBS_QUEUE=queue,
        PARLEY_DATABASE_POOL_SIZE=str(API_POOL[0]),
        PARLEY_DATABASE_MAX_OVERFLOW=str(API_POOL[1]),
        PARLEY_TRUSTED_PROXIES="127.0.0.1",
    )
    worker_env = env | {
        "PARLEY_DATABASE_POOL_SIZE": str(WORKER_POOL[0]),
        "PARLEY_DATABASE_MAX_OVERFLOW": str(WORKER_POOL[1]),
    }
    results["setup"] = {
        "users": args.users,
        "seconds": args.seconds,
        "kill": args.kill,
        "think": args.think,
        "database": db,
        "redis_prefix": prefix,
        "queue": queue,
        "api_pool": API_POOL,
        "worker_pool": WORKER_POOL,
        "cores": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg(),
    }
    sides = [Side(f"api{i}", CURRENT_SRC, tmp / f"api{i}", db, prefix, free_port(), env) for i in range(2)]
    for side in sides:
        side.tmp.mkdir()
    processes: list[asyncio.subprocess.Process] = []
    worker: asyncio.subprocess.Process | None = None
    created = False
    redis = Redis.from_url(REDIS_URL)
    monitor: asyncpg.Connection | None = None
    try:
        upstream = await asyncio.create_subprocess_exec(
            sys.executable, str(UPSTREAM), "--port", str(upstream_port), "--pace-ms", str(args.pace_ms), cwd=tmp
        )
        processes.append(upstream)
        await wait_until(lambda: port_open(upstream_port), "the mock upstream")
        admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{db}"')
            created = True
        finally:
            await admin.close()
        started = time.perf_counter()
        await migrate(sides[0], SEED_REVISION)
        password = secrets.token_urlsafe(18)
        period = period_now()
        seeds = [SeedUser(f"soak{i}", pro_period=period) for i in range(args.users)]
        monitor = await asyncpg.connect(PG_DSN.format(db=db))
        await insert_users(monitor, seeds, password)
        await migrate(sides[0], "head")
        await monitor.execute("ANALYZE")
        results["setup"]["build_s"] = round(time.perf_counter() - started, 1)
        worker = await start_worker(worker_env, tmp)
        for side in sides:
            await start_server(side, None)
            assert side.server is not None
            processes.append(side.server)
        pids = {"api0": sides[0].pid, "api1": sides[1].pid, "worker": worker.pid}
        cluster = Cluster([side.port for side in sides])
        users = [User(i, seed.email, password, i % 2) for i, seed in enumerate(seeds)]
        load = Load()
        pids["bench"] = os.getpid()
        samples: dict[str, Any] = {
            "rss": {name: [] for name in pids},
            "cpu": {name: [] for name in pids},
            "outbox": [],
        }
        results["samples"] = samples
        warmup = min(30.0, args.seconds / 4)
        ramp = min(10.0, args.seconds / 6)
        print(
            f"soak {run_id}: {args.users} users for {args.seconds} s on ports {[s.port for s in sides]}"
            f" (worker pid {worker.pid}); warm-up {warmup} s",
            file=sys.stderr,
        )
        # keep-alive expiry below uvicorn's 5 s: a request sent on a connection the server is closing (its idle
        # timer and the request ready in the same loop turn, likelier when argon2 holds the loop) fails with a
        # ReadError that no Parley code caused; browsers retry those, httpx does not
        limits = httpx.Limits(
            max_connections=args.users + 50, max_keepalive_connections=args.users + 50, keepalive_expiry=2.0
        )
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5), limits=limits) as client:
            results["setup"]["signin"] = await sign_in_everyone(client, cluster, users)
            load.begin = time.monotonic()
            tasks = [
                asyncio.create_task(user_loop(client, cluster, load, user, args.seconds, args.think, ramp))
                for user in users
            ]
            tasks.append(asyncio.create_task(visitors(client, cluster, load, args.seconds)))
            tasks.append(asyncio.create_task(sampler(load, pids, monitor, args.seconds, samples)))
            if args.kill:

                async def kill_then_mark() -> None:
                    await killer(load, processes[1:], cluster, args.seconds / 2)
                    cluster.down.add(1)

                tasks.append(asyncio.create_task(kill_then_mark()))
            await asyncio.gather(*tasks)
            elapsed = load.now()
        results["summary"] = figures(load, elapsed, warmup, samples)
        results["durability"] = await durability(load, monitor, cluster, users)
        for name, process in (("worker", worker), ("api0", processes[1]), ("api1", processes[2])):
            if process.returncode is not None and not (args.kill and name == "api1"):
                results.setdefault("warnings", []).append(f"{name} exited ({process.returncode})")
    finally:
        for process in [*processes[1:], *([worker] if worker else []), *processes[:1]]:
            await stop(process)
        results["logs"] = {
            name: log_tail(path)
            for name, path in (
                ("api0", tmp / "api0" / "server.log"),
                ("api1", tmp / "api1" / "server.log"),
                ("worker", tmp / "worker.log"),
            )
        }
        if monitor is not None:
            await monitor.close()
        if created:
            admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            finally:
                await admin.close()
        leftovers = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if leftovers:
            await redis.delete(*leftovers)
        await redis.aclose()
        await asyncio.to_thread(delete_queues, queue)
        shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description="Parley soak: two API processes and a worker under a mixed load.")
    parser.add_argument("--users", type=int, default=200, help="concurrent simulated users (default 200)")
    parser.add_argument("--seconds", type=float, default=300, help="how long the load runs (default 300)")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time between a user's actions, s")
    parser.add_argument("--pace-ms", type=float, default=2.0, help="the mock upstream's pause between tokens")
    parser.add_argument("--kill", action="store_true", help="kill -9 the second API process halfway")
    parser.add_argument("--json", type=Path, help="also write every figure (and the samples) to this file")
    args = parser.parse_args()
    raise_fd_limit()
    results: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        run_fast(lambda: main(args, results))
    except BaseException as error:
        results["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        results["run_seconds"] = round(time.perf_counter() - started, 1)
        print_report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    cli()
