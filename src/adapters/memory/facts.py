"""In-memory analytics fact log: facts land with the unit of work's commit; a known id is ignored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.database import TableView
from application.analytics.ports import FactPosition
from application.shared.facts import Fact


class InMemoryFactLog(TableView):
    table = "analytics_facts"

    async def record(self, fact: Fact) -> None:
        if self._get(fact.id) is None:
            self._put(fact.id, fact)

    def all(self) -> Sequence[Fact]:
        """Every committed fact (and this unit's), oldest first: what the analytics context reads."""
        return sorted(
            (fact for fact in self._rows() if fact is not None), key=lambda fact: (fact.occurred_at, fact.id.int)
        )

    async def between(
        self,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        *,
        after: FactPosition | None = None,
    ) -> Sequence[Fact]:
        facts = [
            fact
            for fact in self.all()
            if (start is None or fact.occurred_at >= start)
            and (end is None or fact.occurred_at < end)
            and (after is None or (fact.occurred_at, fact.id.int) > (after[0], after[1].int))
        ]
        return facts if limit is None else facts[:limit]

    async def delete_before(self, cutoff: datetime) -> int:
        gone = [fact for fact in self.all() if fact.occurred_at < cutoff]
        for fact in gone:
            self._put(fact.id, None)
        return len(gone)
