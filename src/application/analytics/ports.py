"""The analytics context's ports: the database's fact log as analytics reads it, the unit of work
that holds it, and the questions the analytics routes ask of the facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from application.analytics.answers import (
    ActivePoint,
    Answered,
    Cohort,
    GrowthPoint,
    MarginPoint,
    MessagePoint,
    MrrPoint,
    ProviderPerformance,
    ProviderPoint,
    ProviderUsage,
    RevenuePoint,
    UserCount,
)
from application.analytics.range import DateRange, Interval
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


class AnalyticsQueries(Protocol):
    """One method per analytics question, each over the facts of a range (series: one point per bucket of
    the interval, every bucket present). The definitions are in docs/analytics.md."""

    async def user_count(self, span: DateRange) -> Answered[UserCount]: ...
    async def user_growth(self, span: DateRange, interval: Interval) -> Answered[list[GrowthPoint]]: ...
    async def active_users(self, span: DateRange, interval: Interval) -> Answered[list[ActivePoint]]: ...
    async def retention(self, span: DateRange) -> Answered[list[Cohort]]: ...
    async def messages(self, span: DateRange, interval: Interval) -> Answered[list[MessagePoint]]: ...
    async def messages_by_provider(self, span: DateRange, interval: Interval) -> Answered[list[ProviderPoint]]: ...
    async def revenue(self, span: DateRange, interval: Interval) -> Answered[list[RevenuePoint]]: ...
    async def mrr(self, span: DateRange, interval: Interval) -> Answered[list[MrrPoint]]: ...
    async def margin(self, span: DateRange, interval: Interval) -> Answered[list[MarginPoint]]: ...
    async def provider_usage(self, span: DateRange) -> Answered[list[ProviderUsage]]: ...
    async def provider_performance(self, span: DateRange) -> Answered[list[ProviderPerformance]]: ...
