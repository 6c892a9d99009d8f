"""Wire shapes of /api/analytics (docs/api.md "Analytics"): every answer carries `as_of` and the range it
covers (`from`, `to`, both included); a series also its `interval` and one point per bucket, every bucket
of the range present. The points are the application's answers as they are."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypedDict

import msgspec

from application.analytics.answers import (
    ActivePoint,
    Answered,
    Cohort,
    GrowthPoint,
    MarginPoint,
    MessagePoint,
    MrrPoint,
    PlanMargin,
    ProviderPerformance,
    ProviderPoint,
    ProviderUsage,
    RevenuePoint,
    UserCount,
)
from application.analytics.reports import Ask


class Answer(msgspec.Struct, kw_only=True):
    as_of: datetime | None
    """The time of the newest fact the answer includes (null: no facts at all)."""
    from_: date = msgspec.field(name="from")
    to: date


class Series(Answer, kw_only=True):
    interval: str


class _Head(TypedDict):
    as_of: datetime | None
    from_: date
    to: date


class _SeriesHead(_Head):
    interval: str


def _answer(ask: Ask, answered: Answered[Any]) -> _Head:
    return {"as_of": answered.as_of, "from_": ask.span.first, "to": ask.span.last}


def _series(ask: Ask, answered: Answered[Any]) -> _SeriesHead:
    return {"as_of": answered.as_of, "from_": ask.span.first, "to": ask.span.last, "interval": str(ask.interval)}


class UserCountOut(Answer, kw_only=True):
    total: int
    new: int
    verified: int

    @classmethod
    def of(cls, ask: Ask, answered: Answered[UserCount]) -> UserCountOut:
        count = answered.value
        return cls(**_answer(ask, answered), total=count.total, new=count.new, verified=count.verified)


class GrowthOut(Series, kw_only=True):
    points: list[GrowthPoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[GrowthPoint]]) -> GrowthOut:
        return cls(**_series(ask, answered), points=answered.value)


class ActiveOut(Series, kw_only=True):
    points: list[ActivePoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[ActivePoint]]) -> ActiveOut:
        return cls(**_series(ask, answered), points=answered.value)


class RetentionOut(Answer, kw_only=True):
    cohorts: list[Cohort]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[Cohort]]) -> RetentionOut:
        return cls(**_answer(ask, answered), cohorts=answered.value)


class MessagesOut(Series, kw_only=True):
    points: list[MessagePoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[MessagePoint]]) -> MessagesOut:
        return cls(**_series(ask, answered), points=answered.value)


class ByProviderOut(Series, kw_only=True):
    providers: list[str]
    """Every provider with a reply in the range; each point lists them all, in this order."""
    points: list[ProviderPoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[ProviderPoint]]) -> ByProviderOut:
        names = [count.provider for count in answered.value[0].providers] if answered.value else []
        return cls(**_series(ask, answered), providers=names, points=answered.value)


class RevenueTotals(msgspec.Struct):
    succeeded_cents: int
    refunded_cents: int
    revenue_cents: int
    payments: int
    refunds: int
    failed: int


class RevenueOut(Series, kw_only=True):
    currency: str
    totals: RevenueTotals
    """The points added up: the whole range."""
    points: list[RevenuePoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[RevenuePoint]]) -> RevenueOut:
        points = answered.value
        totals = RevenueTotals(
            sum(p.succeeded_cents for p in points),
            sum(p.refunded_cents for p in points),
            sum(p.revenue_cents for p in points),
            sum(p.payments for p in points),
            sum(p.refunds for p in points),
            sum(p.failed for p in points),
        )
        return cls(**_series(ask, answered), currency="usd", totals=totals, points=points)


class MrrOut(Series, kw_only=True):
    currency: str
    points: list[MrrPoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[MrrPoint]]) -> MrrOut:
        return cls(**_series(ask, answered), currency="usd", points=answered.value)


class MarginTotals(msgspec.Struct):
    revenue_cents: int
    cost_cents: int
    margin_cents: int
    plans: list[PlanMargin]


class MarginOut(Series, kw_only=True):
    currency: str
    totals: MarginTotals
    """The points added up, per plan and in all."""
    points: list[MarginPoint]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[MarginPoint]]) -> MarginOut:
        points = answered.value
        plans = [
            PlanMargin(
                plan.plan,
                sum(p.plans[i].revenue_cents for p in points),
                sum(p.plans[i].cost_cents for p in points),
                sum(p.plans[i].margin_cents for p in points),
            )
            for i, plan in enumerate(points[0].plans if points else [])
        ]
        totals = MarginTotals(
            sum(p.revenue_cents for p in points),
            sum(p.cost_cents for p in points),
            sum(p.margin_cents for p in points),
            plans,
        )
        return cls(**_series(ask, answered), currency="usd", totals=totals, points=points)


class ProviderUsageOut(Answer, kw_only=True):
    items: list[ProviderUsage]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[ProviderUsage]]) -> ProviderUsageOut:
        return cls(**_answer(ask, answered), items=answered.value)


class ProviderPerformanceOut(Answer, kw_only=True):
    items: list[ProviderPerformance]

    @classmethod
    def of(cls, ask: Ask, answered: Answered[list[ProviderPerformance]]) -> ProviderPerformanceOut:
        return cls(**_answer(ask, answered), items=answered.value)
