"""The processes and databases of a benchmark run: one `Side` per source tree measured (the baseline and the
current tree), each with its own PostgreSQL database, Redis prefix, `parley serve` and users.

A side is built in this order, so that data written under today's schema meets every later migration:
1. `CREATE DATABASE parley_bench_<random>_<side>`;
2. migrate to `SEED_REVISION` with the tree's own code (`PYTHONPATH=<tree>/src` puts the tree first);
3. insert the users (and, for the history scenario, their usage records) in SQL, against that revision's
   schema, which is fixed; ANALYZE;
4. `parley migrate` to the tree's head (a migration that backfills from what step 3 wrote runs here); ANALYZE;
5. `parley serve --no-migrate` pinned to the server core; sign every user in, make the load users pro through
   the billing API and create an API key each.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from argon2 import PasswordHasher
from redis.asyncio import Redis

BIN = Path(sys.executable).parent
CURRENT_SRC = Path(__file__).resolve().parents[1] / "src"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/{db}"
REDIS_URL = "redis://127.0.0.1:6379/0"
SEED_REVISION = "2b33e3704346"
"""The head of bb10ab9's migration history: every tree measured has it, with the same schema."""
POOL_SIZE = 36
"""Database connections per server: one per concurrent request at c=32 plus the background's few."""
POOL_OVERFLOW = 4
"""Beyond the pool (opened and closed again under load). Two servers run at once against a PostgreSQL with
max_connections 100: 2 x 40 leaves room for the run's own and a few more."""
MIGRATE_TO = "import sys; from adapters.sql.migrations import upgrade; upgrade(sys.argv[1], sys.argv[2])"
WHERE_IS = "import os, entrypoints; print(os.path.realpath(entrypoints.__file__))"


@dataclass(frozen=True)
class SeedUser:
    """A user written in SQL at SEED_REVISION. `pro_period`: (start, end) of an active pro subscription
    written with it; None for a free account (the load users subscribe through the API later)."""

    name: str
    pro_period: tuple[datetime, datetime] | None = None
    id: UUID = field(default_factory=uuid4)

    @property
    def email(self) -> str:
        return email(self.name)


def email(user: str) -> str:
    return f"bench-{user}@example.com"


@dataclass
class Side:
    """One source tree under test and everything the run created for it."""

    name: str
    src: Path
    tmp: Path
    db: str
    prefix: str
    port: int
    env: dict[str, str]
    server: asyncio.subprocess.Process | None = None
    monitor: asyncpg.Connection | None = None
    """A connection to the side's database that stays open, for counting the sessions Parley opens."""
    keys: dict[str, str] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    user_ids: dict[str, UUID] = field(default_factory=dict)
    parley_ok: int = 0
    """Successful replies of the load users (the durability check expects as many stored)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Set-up figures for the report: revisions, seed and migration times, where the code came from."""

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    @property
    def dsn(self) -> str:
        return PG_DSN.format(db=self.db)

    @property
    def log_path(self) -> Path:
        return self.tmp / "server.log"


# --- processes ------------------------------------------------------------------------------------


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


def server_env(src: Path, db: str, prefix: str, upstream_port: int, tmp: Path) -> dict[str, str]:
    """The environment of every command run for a side: its tree first on the path, nothing inherited from
    PARLEY_*/provider variables."""
    own = ("PARLEY_", "OPENAI_", "ANTHROPIC_", "STRIPE_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(own)}
    env.update(
        PYTHONPATH=str(src),
        PARLEY_DATABASE_URL=PG_DSN.format(db=db).replace("postgresql://", "postgresql+asyncpg://"),
        PARLEY_REDIS_URL=REDIS_URL,
        PARLEY_REDIS_PREFIX=prefix,
        OPENAI_API_KEY="bench",
        OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
        PARLEY_RATE_LIMIT_ENABLED="false",
        PARLEY_DATABASE_POOL_SIZE=str(POOL_SIZE),
        PARLEY_DATABASE_MAX_OVERFLOW=str(POOL_OVERFLOW),
        PARLEY_CACHE_TTL_SECONDS="0",
        PARLEY_LOG_LEVEL="WARNING",
        # The chat path is measured, not the analytics export: its schedule (every 5 minutes, in the API
        # process on the embedded default) would run mid-run over the seeded facts, on the measured core.
        PARLEY_ANALYTICS_EXPORT_INTERVAL_SECONDS="0",
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
        await asyncio.sleep(0.1)  # polling a port: there is no event to await


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


async def start_server(side: Side, core: int | None) -> None:
    """`parley serve` on its core, its output in the side's log; returns once it accepts connections."""
    log = os.open(side.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        server = await asyncio.create_subprocess_exec(
            *pinned(core, BIN / "parley", "serve", "--no-migrate", "--port", str(side.port)),
            env=side.env,
            cwd=side.tmp,
            stdout=log,
            stderr=log,
        )
    finally:
        os.close(log)
    side.server = server

    async def ready() -> bool:
        if server.returncode is not None:
            raise RuntimeError(f"{side.name}: parley serve exited ({server.returncode}); see {side.log_path}")
        return await port_open(side.port)

    await wait_until(ready, f"{side.name}: parley serve", seconds=60)


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


# --- building a side ------------------------------------------------------------------------------


async def migrate(side: Side, revision: str) -> float:
    """Upgrade the side's database to `revision` with the side's own code; returns the seconds it took."""
    started = time.perf_counter()
    if revision == "head":
        await run_command([str(BIN / "parley"), "migrate"], side.env, side.tmp)
    else:
        url = side.env["PARLEY_DATABASE_URL"]
        await run_command([sys.executable, "-c", MIGRATE_TO, url, revision], side.env, side.tmp)
    return round(time.perf_counter() - started, 2)


async def check_tree(side: Side) -> None:
    """The side's commands must import the side's tree, not whatever the virtualenv points at."""
    where = (await run_command([sys.executable, "-c", WHERE_IS], side.env, side.tmp)).strip()
    if not where.startswith(f"{side.src}/"):  # side.src is resolved (run.tree)
        raise RuntimeError(f"{side.name}: imports {where}, not the tree {side.src}")
    side.facts["code"] = where


async def insert_users(connection: asyncpg.Connection, users: list[SeedUser], password: str) -> None:
    """Verified users with a known password (argon2id, the parameters Parley's own hasher uses), in SQL at
    SEED_REVISION; the pro ones with an active local subscription over their `pro_period`."""
    password_hash = PasswordHasher().hash(password)
    now = datetime.now(UTC)
    await connection.executemany(
        "INSERT INTO users (id, email, name, password_hash, role, plan, created_at, email_verified_at)"
        " VALUES ($1, $2, NULL, $3, 'user', $4, $5, $5)",
        [(u.id, u.email, password_hash, "pro" if u.pro_period else "free", now) for u in users],
    )
    await connection.executemany(
        "INSERT INTO subscriptions (id, user_id, plan, status, gateway, current_period_start, current_period_end,"
        " cancel_at_period_end, pending_plan, external_id, customer_id, client_secret, created_at, updated_at)"
        " VALUES ($1, $2, 'pro', 'active', 'local', $3, $4, false, NULL, NULL, NULL, NULL, $5, $5)",
        [(uuid4(), u.id, *u.pro_period, now) for u in users if u.pro_period],
    )


async def sign_in_all(side: Side, users: list[SeedUser], password: str, subscribe: set[str]) -> None:
    """Per user: sign in, subscribe to pro (the users named in `subscribe`), create an API key, and read the
    tokens left in the quota."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{side.port}", timeout=60) as client:
        for user in users:
            signin = await client.post("/api/auth/signin", json={"email": user.email, "password": password})
            signin.raise_for_status()
            bearer = {"Authorization": f"Bearer {signin.json()['access_token']}"}
            if user.name in subscribe:
                (await client.post("/api/billing/subscribe", json={"plan": "pro"}, headers=bearer)).raise_for_status()
            created = await client.post("/api/keys", json={"name": f"bench {user.name}"}, headers=bearer)
            created.raise_for_status()
            key = created.json()["key"]
            usage = await client.get("/api/usage", headers={"Authorization": f"Bearer {key}"})
            usage.raise_for_status()
            side.keys[user.name] = key
            side.remaining[user.name] = int(usage.json()["remaining"])
            side.user_ids[user.name] = user.id


async def connection_headroom(sides: int) -> str | None:
    """A warning when PostgreSQL may refuse the servers' connections (each holds up to POOL_SIZE + POOL_OVERFLOW)."""
    admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
    try:
        limit = int(await admin.fetchval("SELECT current_setting('max_connections')::int"))
        reserved = int(await admin.fetchval("SELECT current_setting('superuser_reserved_connections')::int"))
        in_use = int(
            await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        )
    finally:
        await admin.close()
    needed = sides * (POOL_SIZE + POOL_OVERFLOW + 2)
    free = limit - reserved - in_use
    if free >= needed:
        return None
    return (
        f"PostgreSQL has {free} connections free ({in_use} in use of {limit}, {reserved} reserved); the servers may"
        f" need {needed}: a refused connection shows as errors in the table and in the server log"
    )


async def build(
    side: Side,
    core: int | None,
    load_users: list[str],
    seed: Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]] | None,
    extra_users: list[SeedUser],
) -> None:
    """Steps 1-5 of the module's docstring. `seed` writes the history scenario's records (given the users of
    `extra_users` already inserted) and returns its figures."""
    admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{side.db}"')
    finally:
        await admin.close()
    await check_tree(side)
    side.facts["migrate_to_seed_revision_s"] = await migrate(side, SEED_REVISION)
    password = secrets.token_urlsafe(18)
    users = [SeedUser(name) for name in load_users] + extra_users
    connection = await asyncpg.connect(side.dsn)
    try:
        await insert_users(connection, users, password)
        if seed is not None:
            side.facts["seed"] = await seed(connection)
        side.facts["migrate_to_head_s"] = await migrate(side, "head")
        started = time.perf_counter()
        await connection.execute("ANALYZE")
        side.facts["analyze_after_head_s"] = round(time.perf_counter() - started, 2)
        side.facts["revision"] = await connection.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()
    await start_server(side, core)
    await sign_in_all(side, users, password, subscribe=set(load_users))
    side.monitor = await asyncpg.connect(side.dsn)
    side.facts["rss_fresh"] = rss_bytes(side.pid)


async def tear_down(side: Side, redis: Redis) -> None:
    """Stop the server, drop the database and the side's Redis keys (also when the build failed half-way)."""
    if side.server is not None:
        await stop(side.server)
    if side.monitor is not None:
        await side.monitor.close()
    admin = await asyncpg.connect(PG_DSN.format(db="postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{side.db}" WITH (FORCE)')
    finally:
        await admin.close()
    leftovers = [key async for key in redis.scan_iter(match=f"{side.prefix}*", count=1000)]
    if leftovers:
        await redis.delete(*leftovers)


def period_now(now: datetime | None = None) -> tuple[datetime, datetime]:
    """A pro period that began ten days ago (whole seconds) and ends in twenty."""
    start = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(days=10)
    return start, start + timedelta(days=30)
