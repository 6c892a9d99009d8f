"""The analytics context's ports: the database's fact log as analytics reads it, and the unit of work
that holds it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from application.shared.facts import Fact, FactLog
from application.shared.ports import UnitOfWork


class FactStore(FactLog, Protocol):
    """The facts still in the database (the tail not yet exported, and exported ones inside the retention
    window)."""

    async def between(self, start: datetime | None, end: datetime | None, limit: int | None = None) -> Sequence[Fact]:
        """Facts with start <= occurred_at < end (an open bound when None), oldest first."""
        ...

    async def delete_before(self, cutoff: datetime) -> int:
        """Delete the facts that occurred before `cutoff`; how many went."""
        ...


class AnalyticsUnitOfWork(UnitOfWork, Protocol):
    @property
    def facts(self) -> FactStore: ...
