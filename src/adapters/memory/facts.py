"""In-memory analytics fact log: facts land with the unit of work's commit; a known id is ignored."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.database import TableView
from application.shared.facts import Fact


class InMemoryFactLog(TableView):
    table = "analytics_facts"

    async def record(self, fact: Fact) -> None:
        if self._get(fact.id) is None:
            self._put(fact.id, fact)

    def all(self) -> Sequence[Fact]:
        """Every committed fact (and this unit's), oldest first: what the analytics context reads."""
        return sorted(self._rows(), key=lambda fact: (fact.occurred_at, fact.id.int))
