"""Scenario 8: what a user's history costs. One user has 1,000 usage records in the current period, another
1,000,000 (both also some in the period before), among other users' records; the figures are GET /api/usage
(p50) and the time to first token of the first chat after the user's Redis quota counter is deleted, when the
ledger must re-seed the counter from the database (p50 over several deletions). Target: the 1M user within 20%
of the 1k user.

The records are bulk-loaded in SQL at SEED_REVISION (one INSERT ... SELECT over generate_series, rows in time
order as an application appends them, ids time-ordered like the UUIDv7s Parley makes), so that a later
migration that backfills from usage_records runs on them. Each record carries 0 or 1 tokens (one in seven is a
cache hit, which costs no quota), so a million of them fit in the pro quota and chatting still works.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from loadgen import Connection, Target, percentiles
from redis.asyncio import Redis
from servers import SeedUser, Side, period_now

MEASURED = {"history-1k": 1_000, "history-1m": 1_000_000}
"""User -> usage records in the current period."""
PREVIOUS = {"history-1k": 1_000, "history-1m": 100_000}
"""User -> usage records in the period before (ignored by every current-period question, but in the index)."""
NEIGHBOURS = 4
NEIGHBOUR_RECORDS = 50_000
"""Each neighbour's records, half in the current period and half in the one before (same period start)."""
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku")

# One row per (user, period start, first created_at, span, count): `count` records spread evenly over the span.
_INSERT_USAGE = """
INSERT INTO usage_records (id, user_id, message_id, model, provider, prompt_tokens, completion_tokens, cached,
                           period_start, created_at, latency_ms, ttft_ms, failovers)
SELECT (lpad(to_hex((extract(epoch FROM r.created_at) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(r.user_id::text || r.n), 1, 19))::uuid,
       r.user_id, NULL, ($6::text[])[1 + r.n % array_length($6::text[], 1)],
       CASE WHEN r.n % 3 = 2 THEN 'anthropic' ELSE 'openai' END,
       0, (r.n % 5 = 0)::int, r.n % 7 = 0, r.period_start, r.created_at, 300 + r.n % 200, 20 + r.n % 50, 0
FROM (
    SELECT plan.user_id, plan.period_start, n,
           plan.first + plan.span * (n::float8 / plan.count) AS created_at
    FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::interval[], $5::int[])
         AS plan(user_id, period_start, first, span, count)
    CROSS JOIN LATERAL generate_series(1, plan.count) AS n
) AS r
ORDER BY r.created_at
"""


def users(now: datetime | None = None) -> list[SeedUser]:
    """The measured users (pro, the same period) and their neighbours (pro too, same period start)."""
    period = period_now(now)
    names = [*MEASURED, *(f"history-neighbour-{i}" for i in range(NEIGHBOURS))]
    return [SeedUser(name, pro_period=period) for name in names]


async def seed(connection: asyncpg.Connection, seeded: list[SeedUser]) -> dict[str, Any]:
    """Every record in one statement, then ANALYZE (autovacuum may be off); returns counts and seconds."""
    start, _ = seeded[0].pro_period or period_now()
    before = start - timedelta(days=30)
    now = start + timedelta(days=10)
    plan: list[tuple[Any, datetime, datetime, timedelta, int]] = []
    for user in seeded:
        current = MEASURED.get(user.name, NEIGHBOUR_RECORDS // 2)
        previous = PREVIOUS.get(user.name, NEIGHBOUR_RECORDS // 2)
        plan.append((user.id, start, start, now - start - timedelta(minutes=5), current))
        plan.append((user.id, before, before, start - before, previous))
    columns = [list(column) for column in zip(*plan, strict=True)]
    started = time.perf_counter()
    async with connection.transaction():
        # The user ids exist (inserted just before): skip the foreign-key trigger per row.
        await connection.execute("SET LOCAL session_replication_role = replica")
        status = await connection.execute(_INSERT_USAGE, *columns, list(MODELS))
    inserted = time.perf_counter()
    await connection.execute("ANALYZE usage_records")
    return {
        "records": int(status.split()[-1]),
        "insert_s": round(inserted - started, 2),
        "analyze_s": round(time.perf_counter() - inserted, 2),
    }


def _usage_request(port: int, key: str) -> bytes:
    return (
        f"GET /api/usage HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


async def _drop_counter(redis: Redis, side: Side, user: str) -> int:
    """Delete the user's quota counter (every key under the side's prefix naming the user and `quota`)."""
    user_id = str(side.user_ids[user])
    keys = [key async for key in redis.scan_iter(match=f"{side.prefix}*{user_id}*", count=1000) if b"quota" in key]
    if keys:
        await redis.delete(*keys)
    return len(keys)


async def measure(side: Side, redis: Redis, usage_reps: int, cold_reps: int) -> dict[str, Any]:
    """Per measured user, on one keep-alive connection each, the users alternating: GET /api/usage
    `usage_reps` times (after one unmeasured), one chat with the counter in place (warm), then `cold_reps`
    times: delete the counter, chat."""
    connections = {user: await Connection.open("127.0.0.1", side.port) for user in MEASURED}
    url = f"http://127.0.0.1:{side.port}/v1/chat/completions"
    targets = {user: Target.of(url, side.keys[user], stream=True) for user in MEASURED}
    usage: dict[str, list[float]] = {user: [] for user in MEASURED}
    cold: dict[str, list[float]] = {user: [] for user in MEASURED}
    warm: dict[str, list[float]] = {user: [] for user in MEASURED}
    deleted: dict[str, list[int]] = {user: [] for user in MEASURED}
    failures: list[str] = []
    number = 0

    async def chat(user: str, into: list[float]) -> None:
        nonlocal number
        number += 1
        exchange = await connections[user].exchange(targets[user].request(f"History {number}."), stream=True)
        if exchange.ok and exchange.first_token is not None:
            into.append(exchange.first_token - exchange.started)
        else:
            failures.append(f"{user} chat: http {exchange.status} {exchange.detail[:200]!r}")

    async def get_usage(user: str, into: list[float] | None) -> None:
        exchange = await connections[user].exchange(_usage_request(side.port, side.keys[user]), stream=False)
        if exchange.status == 200:
            if into is not None:
                into.append(exchange.ended - exchange.started)
        else:
            failures.append(f"{user} usage: http {exchange.status} {exchange.detail[:200]!r}")

    try:
        for user in MEASURED:
            await get_usage(user, None)
        for rep in range(usage_reps):
            for user in MEASURED if rep % 2 == 0 else reversed(MEASURED):
                await get_usage(user, usage[user])
        for user in MEASURED:
            await chat(user, warm[user])
        for rep in range(cold_reps):
            for user in MEASURED if rep % 2 == 0 else reversed(MEASURED):
                deleted[user].append(await _drop_counter(redis, side, user))
                await chat(user, cold[user])
    finally:
        for connection in connections.values():
            connection.close()
    return {
        user: {
            "records_in_period": records,
            "usage_ms": percentiles(usage[user]),
            "cold_ttft_ms": percentiles(cold[user]),
            "warm_ttft_ms": percentiles(warm[user]),
            "counter_keys_deleted": deleted[user],
            "samples": {"usage": len(usage[user]), "cold": len(cold[user])},
        }
        for user, records in MEASURED.items()
    } | {"failures": failures}
