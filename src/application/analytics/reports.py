"""The analytics questions as the routes ask them: the parameters validated (DateRange, Interval), the answer
read from the cache when one was computed in the last CACHE_SECONDS, else asked of AnalyticsQueries and kept.
Who may ask (admins only) is the edge's check, before anything here runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

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
from application.analytics.codec import plain, rebuild
from application.analytics.ports import AnalyticsQueries
from application.analytics.range import DateRange, Interval
from application.shared.ports import Cache
from domain.shared.clock import Clock

T = TypeVar("T")
CACHE_SECONDS = 20
"""How long an answer is served from the cache (per route and parameters): a burst of dashboard loads costs
one query, and an answer is at most this much older than its `as_of` suggests."""


@dataclass(frozen=True, slots=True)
class Ask:
    """A question's parameters, validated; `interval` is None for the questions that are not series."""

    span: DateRange
    interval: Interval | None = None


class AnalyticsReports:
    def __init__(
        self, queries: AnalyticsQueries, cache: Cache, clock: Clock, cache_seconds: int = CACHE_SECONDS
    ) -> None:
        self._queries = queries
        self._cache = cache
        self._clock = clock
        self._cache_seconds = cache_seconds

    def ask(self, start: str | None, end: str | None, interval: str | None = None, *, series: bool = False) -> Ask:
        """The parameters of a question from the query string (InvalidInput naming `from`, `to`, `interval`)."""
        span = DateRange.parse(start, end, self._clock.now().date())
        return Ask(span, Interval.parse(interval) if series else None)

    async def user_count(self, ask: Ask) -> Answered[UserCount]:
        return await self._answer("users/count", ask, UserCount, lambda: self._queries.user_count(ask.span))

    async def user_growth(self, ask: Ask) -> Answered[list[GrowthPoint]]:
        return await self._answer(
            "users/growth", ask, list[GrowthPoint], lambda: self._queries.user_growth(ask.span, _interval(ask))
        )

    async def active_users(self, ask: Ask) -> Answered[list[ActivePoint]]:
        return await self._answer(
            "users/active", ask, list[ActivePoint], lambda: self._queries.active_users(ask.span, _interval(ask))
        )

    async def retention(self, ask: Ask) -> Answered[list[Cohort]]:
        return await self._answer("users/retention", ask, list[Cohort], lambda: self._queries.retention(ask.span))

    async def messages(self, ask: Ask) -> Answered[list[MessagePoint]]:
        return await self._answer(
            "chat/messages", ask, list[MessagePoint], lambda: self._queries.messages(ask.span, _interval(ask))
        )

    async def messages_by_provider(self, ask: Ask) -> Answered[list[ProviderPoint]]:
        return await self._answer(
            "chat/by-provider",
            ask,
            list[ProviderPoint],
            lambda: self._queries.messages_by_provider(ask.span, _interval(ask)),
        )

    async def revenue(self, ask: Ask) -> Answered[list[RevenuePoint]]:
        return await self._answer(
            "revenue/total", ask, list[RevenuePoint], lambda: self._queries.revenue(ask.span, _interval(ask))
        )

    async def mrr(self, ask: Ask) -> Answered[list[MrrPoint]]:
        return await self._answer(
            "revenue/mrr", ask, list[MrrPoint], lambda: self._queries.mrr(ask.span, _interval(ask))
        )

    async def margin(self, ask: Ask) -> Answered[list[MarginPoint]]:
        return await self._answer(
            "revenue/margin", ask, list[MarginPoint], lambda: self._queries.margin(ask.span, _interval(ask))
        )

    async def provider_usage(self, ask: Ask) -> Answered[list[ProviderUsage]]:
        return await self._answer(
            "providers/usage", ask, list[ProviderUsage], lambda: self._queries.provider_usage(ask.span)
        )

    async def provider_performance(self, ask: Ask) -> Answered[list[ProviderPerformance]]:
        return await self._answer(
            "providers/performance",
            ask,
            list[ProviderPerformance],
            lambda: self._queries.provider_performance(ask.span),
        )

    async def _answer(
        self, question: str, ask: Ask, kind: Any, compute: Callable[[], Awaitable[Answered[T]]]
    ) -> Answered[T]:
        key = f"analytics:{question}:{ask.span.first}:{ask.span.last}:{ask.interval or '-'}"
        cached = await self._cache.get(key)
        if cached is not None:
            stored = json.loads(cached)
            value: T = rebuild(kind, stored["value"])
            return Answered(value, rebuild(datetime | None, stored["as_of"]))
        answer = await compute()
        body = json.dumps({"as_of": plain(answer.as_of), "value": plain(answer.value)}, separators=(",", ":"))
        await self._cache.set(key, body.encode(), self._cache_seconds)
        return answer


def _interval(ask: Ask) -> Interval:
    return ask.interval or Interval.DAY
