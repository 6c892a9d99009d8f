"""The analytics definitions on small hand-made data sets: DuckDbAnalyticsQueries over a FactViews double
that loads the test's facts into an in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import duckdb

from adapters.analytics.duckdb_queries import DuckDbAnalyticsQueries
from adapters.analytics.schema import connect, load_facts
from application.analytics.range import DateRange
from application.shared.facts import Fact, FactKind

T = TypeVar("T")


class HandMadeFacts:
    """FactViews over the facts a test made."""

    def __init__(self, facts: list[Fact]) -> None:
        self.facts = facts

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        connection = connect()
        try:
            as_of = load_facts(connection, self.facts)
            return query(connection), as_of
        finally:
            connection.close()


def queries(*facts: Fact) -> DuckDbAnalyticsQueries:
    return DuckDbAnalyticsQueries(HandMadeFacts(list(facts)))


def user(n: int) -> UUID:
    return UUID(int=n)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def days(first: str, last: str) -> DateRange:
    return DateRange(date.fromisoformat(first), date.fromisoformat(last))


def fact(kind: FactKind, when: datetime, who: int, **data: Any) -> Fact:
    return Fact(kind=kind, occurred_at=when, user_id=user(who), data=data)


def reply(when: datetime, who: int, **data: Any) -> Fact:
    fields = {
        "plan": "plus",
        "provider": "openai",
        "model": "gpt",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_micros": 0,
        "cached": False,
    }
    return fact(FactKind.MESSAGE_REPLIED, when, who, **{**fields, **data})


def change(kind: FactKind, when: datetime, who: int, *, price: int = 2000, status: str = "active", **data: Any) -> Fact:
    return fact(kind, when, who, subscription_id=f"sub-{who}", plan="plus", price_cents=price, status=status, **data)
