"""The SQL work of one streamed chat reply, without HTTP, Redis or the upstream: an inner loop for the adapters.

One "request" is the three statements `POST /v1/chat/completions` sends with an API key (the allowance is
cached in the server, so it costs no query a request), through the ports the chat path uses, sharing one set
of kept connections as bootstrap() wires them:
1. authenticate: `SqlPrincipalLookup.api_key_with_owner` (the key and its owner, one SELECT);
2. the user's message: `SqlChatStore.record_prompt` (a new conversation with its first message);
3. the reply: `SqlChatStore.record_reply` (the message, the conversation's count, the usage record, the
   per-period, per-day and per-model totals and the analytics fact, one statement).

On a fresh PostgreSQL database `parley_sqlbench_<random>` (dropped at the end; straight on asyncpg, as in
production) or, with `--sqlite`, a SQLite file (SQLAlchemy transactions), it prints the microseconds per
request: wall time and this process's CPU time at concurrency 1 and 32 (PostgreSQL's CPU is not counted). Pin
it to a core (`taskset -c 1`) for steadier figures; compare before/after in the same conditions.

    .venv/bin/python bench/sql_hot_path.py [--requests 3000] [--rounds 3] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from adapters.sql.chat_store import SqlChatStore
from adapters.sql.direct import KeptConnections
from adapters.sql.engine import create_engine, create_session_factory
from adapters.sql.migrations import upgrade
from adapters.sql.principals import SqlPrincipalLookup
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import UsageRecord
from domain.identity.model import ApiKey, User
from domain.identity.model import Role as UserRole
from domain.shared.ids import new_id

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
KEY_HASH = "b" * 64
PLAN = "pro"

UowFactory = Callable[[], SqlUnitOfWork]


async def seed(uow_factory: UowFactory) -> User:
    """One pro user with an API key (the subscription behind the plan is read once and cached by the server, so
    the chat path sends no query for it)."""
    now = datetime.now(UTC)
    user = User(
        id=new_id(),
        email="bench@example.com",
        name=None,
        password_hash="$argon2id$bench",
        role=UserRole.USER,
        plan=PLAN,
        created_at=now,
    )
    key = ApiKey(id=new_id(), user_id=user.id, name="bench", prefix="pk_bench", key_hash=KEY_HASH, created_at=now)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.api_keys.add(key)
        await uow.commit()
    return user


async def one_request(hot: HotPath, user: User, period_start: datetime) -> None:
    found = await hot.principals.api_key_with_owner(KEY_HASH)
    assert found is not None and found[1].id == user.id
    now = datetime.now(UTC)
    conversation = Conversation(
        id=new_id(), user_id=user.id, title="Benchmark", model="gpt-4o-mini", created_at=now, updated_at=now
    )
    prompt = Message(
        id=new_id(),
        conversation_id=conversation.id,
        user_id=user.id,
        role=Role.USER,
        content="Say something.",
        created_at=now,
    )
    await hot.store.record_prompt(conversation, prompt, new=True)
    usage = Usage(prompt_tokens=12, completion_tokens=50)
    reply = Message(
        id=new_id(),
        conversation_id=conversation.id,
        user_id=user.id,
        role=Role.ASSISTANT,
        content="word " * 50,
        created_at=datetime.now(UTC),
        model="gpt-4o-mini",
        provider="openai",
        usage=usage,
    )
    record = UsageRecord(
        id=new_id(),
        user_id=user.id,
        message_id=reply.id,
        model="gpt-4o-mini",
        provider="openai",
        usage=usage,
        cached=False,
        period_start=period_start,
        created_at=reply.created_at,
        latency_ms=5,
        ttft_ms=1,
        failovers=0,
    )
    fact = Fact(
        id=fact_id(FactKind.MESSAGE_REPLIED, str(record.id)),
        kind=FactKind.MESSAGE_REPLIED,
        occurred_at=record.created_at,
        user_id=user.id,
        data={"model": record.model, "provider": record.provider, "prompt_tokens": 12, "completion_tokens": 50},
    )
    await hot.store.record_reply(reply, record, (), (fact,))


@dataclass
class HotPath:
    principals: SqlPrincipalLookup
    store: SqlChatStore


async def measure(hot: HotPath, user: User, requests: int, concurrency: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per request, `requests` in all spread over `concurrency` workers."""
    per_worker = requests // concurrency
    period_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    async def worker() -> None:
        for _ in range(per_worker):
            await one_request(hot, user, period_start)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = per_worker * concurrency
    return (time.perf_counter() - wall) / done * 1e6, (time.process_time() - cpu) / done * 1e6


async def run(url: str, requests: int, rounds: int) -> None:
    engine = create_engine(url, pool_size=36, max_overflow=4)  # the chat benchmark's servers' pool
    kept = KeptConnections(engine)  # shared by both, as bootstrap() does
    hot = HotPath(SqlPrincipalLookup(kept), SqlChatStore(engine, kept))
    try:
        factory = create_session_factory(engine)

        def uow_factory() -> SqlUnitOfWork:
            return SqlUnitOfWork(factory)

        user = await seed(uow_factory)
        await measure(hot, user, requests // 4, 32)  # warm-up: the kept connections, prepared statements
        figures: dict[str, list[float]] = {"c=1 wall": [], "c=1 CPU": [], "c=32 wall": [], "c=32 CPU": []}
        for _ in range(rounds):
            for concurrency in (1, 32):
                wall, cpu = await measure(hot, user, requests, concurrency)
                figures[f"c={concurrency} wall"].append(wall)
                figures[f"c={concurrency} CPU"].append(cpu)
        for name, values in figures.items():
            shown = ", ".join(f"{value:,.0f}" for value in values)
            print(f"{name:<10} median {statistics.median(values):>7,.0f} µs/request   ({shown})")
    finally:
        await hot.store.aclose()
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await asyncio.to_thread(upgrade, url)
            await run(url, args.requests, args.rounds)
        return
    db = f"parley_sqlbench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{db}"')
        try:
            url = URL.format(db=db)
            await asyncio.to_thread(upgrade, url)
            await run(url, args.requests, args.rounds)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Time the SQL units of work of one chat reply.")
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per concurrency (default 3)")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    asyncio.run(main(parser.parse_args()))
