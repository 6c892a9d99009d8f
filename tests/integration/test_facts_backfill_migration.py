"""The facts backfill (e8b2c6d4a1f7) writes the facts of what existed before: a sign-up per user, a verification
where verified, a start per current subscription, a success per succeeded payment and a reply per usage record,
with the live code's ids; running it again adds nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import insert, select

from adapters.sql.engine import create_engine
from adapters.sql.migrations import downgrade, upgrade
from adapters.sql.tables import analytics_facts, usage_records, users
from application.shared.facts import FactKind, fact_id
from domain.shared.ids import new_id

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_the_facts_are_backfilled_once(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "d7a1f3c9e2b4")
    ada, grace, record = new_id(), new_id(), new_id()
    asyncio.run(_seed(url, ada, grace, record))

    upgrade(url, "head")
    downgrade(url, "d7a1f3c9e2b4")
    upgrade(url, "head")  # again: nothing twice

    rows = asyncio.run(_facts(url))
    assert Counter(row.kind for row in rows) == {"user.signed_up": 2, "user.verified": 1, "message.replied": 1}
    replied = next(row for row in rows if row.kind == "message.replied")
    assert replied.id == fact_id(FactKind.MESSAGE_REPLIED, str(record))
    assert replied.data["prompt_tokens"] == 10 and replied.data["cost_micros"] == 0
    assert "ada@example.com" not in repr([row.data for row in rows])


async def _seed(url: str, ada: object, grace: object, record: object) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for user_id, email, verified in ((ada, "ada@example.com", T0), (grace, "grace@example.com", None)):
                await connection.execute(
                    insert(users).values(
                        id=user_id,
                        email=email,
                        name=None,
                        password_hash="h",
                        role="user",
                        plan="free",
                        created_at=T0,
                        email_verified_at=verified,
                    )
                )
            await connection.execute(
                insert(usage_records).values(
                    id=record,
                    user_id=ada,
                    message_id=None,
                    model="parley-demo",
                    provider="demo",
                    prompt_tokens=10,
                    completion_tokens=5,
                    cached=False,
                    period_start=T0,
                    created_at=T0,
                    latency_ms=None,
                    ttft_ms=None,
                    failovers=0,
                    cost_micros=0,
                )
            )
    finally:
        await engine.dispose()


async def _facts(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(select(analytics_facts)))
    finally:
        await engine.dispose()
