"""The analytics fact log over SQL: one insert per fact, and a fact whose id is already there is skipped
(ON CONFLICT DO NOTHING on PostgreSQL, INSERT OR IGNORE on SQLite), so a replayed job records nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Row, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.tables import analytics_facts
from adapters.sql.transaction import SqlTransaction
from application.analytics.ports import FactPosition
from application.shared.facts import Fact, FactKind


def insert_fact(dialect: str) -> Insert:
    """The dialect's insert that ignores a fact already recorded."""
    if dialect == "postgresql":
        return postgresql.insert(analytics_facts).on_conflict_do_nothing(index_elements=["id"])
    return sqlite.insert(analytics_facts).on_conflict_do_nothing(index_elements=["id"])


def fact_values(fact: Fact) -> dict[str, Any]:
    return {
        "id": fact.id,
        "kind": fact.kind.value,
        "occurred_at": fact.occurred_at,
        "user_id": fact.user_id,
        "data": dict(fact.data),
    }


def fact_from_row(row: Row[Any]) -> Fact:
    return Fact(id=row.id, kind=FactKind(row.kind), occurred_at=row.occurred_at, user_id=row.user_id, data=row.data)


class SqlFactLog:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx
        self._insert = insert_fact(tx.dialect)

    async def record(self, fact: Fact) -> None:
        await self._tx.execute(self._insert, fact_values(fact))

    async def between(
        self,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        *,
        after: FactPosition | None = None,
    ) -> Sequence[Fact]:
        statement = select(analytics_facts)
        if after is not None:
            # (occurred_at, id) > after, spelt so that the occurred_at index bounds the scan on both dialects
            moment, fact_id = after
            statement = statement.where(
                analytics_facts.c.occurred_at >= moment,
                or_(analytics_facts.c.occurred_at > moment, analytics_facts.c.id > fact_id),
            )
        if start is not None:
            statement = statement.where(analytics_facts.c.occurred_at >= start)
        if end is not None:
            statement = statement.where(analytics_facts.c.occurred_at < end)
        statement = statement.order_by(analytics_facts.c.occurred_at, analytics_facts.c.id).limit(limit)
        return [fact_from_row(row) for row in await self._tx.read(statement)]

    async def delete_before(self, cutoff: datetime) -> int:
        result = await self._tx.execute(delete(analytics_facts).where(analytics_facts.c.occurred_at < cutoff))
        return result.rowcount
