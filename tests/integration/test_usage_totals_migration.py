"""The usage totals migration (5f1c2a9e0b71) fills the totals from the usage records already stored, and the
period totals migration (a6c3e9f1d2b8) each period's total from those, so the usage page and the quota read the
same after the upgrade as before it: cached replies count as requests, not tokens; days are UTC days; periods
and users stay apart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert

from adapters.sql.engine import create_engine
from adapters.sql.migrations import upgrade
from adapters.sql.tables import usage_records, users
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.conversation.ports import DayUsage, ModelUsage
from domain.shared.ids import new_id

PERIOD = datetime(2026, 3, 1, tzinfo=UTC)
NEXT = datetime(2026, 4, 1, tzinfo=UTC)


def test_the_totals_are_backfilled_from_the_usage_records(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "2b33e3704346")
    ada, grace = new_id(), new_id()
    asyncio.run(_seed(url, ada, grace))

    upgrade(url, "head")

    by_model, by_day, total, next_total, other = asyncio.run(_read(url, ada, grace))
    assert by_model == [
        ModelUsage("GPT-4o", "openai", requests=1, prompt_tokens=4, completion_tokens=4),
        ModelUsage("parley-demo", "demo", requests=3, prompt_tokens=30, completion_tokens=15),
    ]
    assert by_day == [DayUsage("2026-03-01", 23), DayUsage("2026-03-03", 30)]  # 2 March: cached only
    assert (total, next_total, other) == (53, 14, 6)


async def _seed(url: str, ada: Any, grace: Any) -> None:
    engine = create_engine(url)
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    late = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # still 1 March in UTC
    rows = [
        (ada, 10, 5, False, "parley-demo", "demo", PERIOD, t0),
        (ada, 20, 10, False, "parley-demo", "demo", PERIOD, datetime(2026, 3, 3, 9, tzinfo=UTC)),
        (ada, 500, 500, True, "parley-demo", "demo", PERIOD, datetime(2026, 3, 2, 12, tzinfo=UTC)),
        (ada, 4, 4, False, "GPT-4o", "openai", PERIOD, late),
        (ada, 7, 7, False, "parley-demo", "demo", NEXT, datetime(2026, 4, 2, tzinfo=UTC)),
        (grace, 3, 3, False, "parley-demo", "demo", PERIOD, t0),
    ]
    try:
        async with engine.begin() as connection:
            for user_id, email in ((ada, "ada@example.com"), (grace, "grace@example.com")):
                await connection.execute(
                    insert(users).values(
                        id=user_id, email=email, name=None, password_hash="h", role="user", plan="free", created_at=t0
                    )
                )
            for user_id, prompt, completion, cached, model, provider, period, at in rows:
                await connection.execute(
                    insert(usage_records).values(
                        id=new_id(),
                        user_id=user_id,
                        message_id=None,
                        model=model,
                        provider=provider,
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        cached=cached,
                        period_start=period,
                        created_at=at,
                        latency_ms=None,
                        ttft_ms=None,
                        failovers=0,
                    )
                )
    finally:
        await engine.dispose()


async def _read(url: str, ada: Any, grace: Any) -> tuple[Any, ...]:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(engine) as uow:
            return (
                await uow.usage.by_model(ada, PERIOD),
                await uow.usage.by_day(ada, PERIOD),
                await uow.usage.total_for_period(ada, PERIOD),
                await uow.usage.total_for_period(ada, NEXT),
                await uow.usage.total_for_period(grace, PERIOD),
            )
    finally:
        await engine.dispose()
