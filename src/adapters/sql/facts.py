"""The analytics fact log over SQL: one insert per fact, and a fact whose id is already there is skipped
(ON CONFLICT DO NOTHING on PostgreSQL, INSERT OR IGNORE on SQLite), so a replayed job records nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.tables import analytics_facts
from adapters.sql.transaction import SqlTransaction
from application.shared.facts import Fact


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


class SqlFactLog:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx
        self._insert = insert_fact(tx.dialect)

    async def record(self, fact: Fact) -> None:
        await self._tx.execute(self._insert, fact_values(fact))
