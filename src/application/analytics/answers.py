"""What the analytics questions answer: plain data (money in integer cents), one dataclass per shape. The
definitions behind every number are in docs/analytics.md ("Definitions")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answered(Generic[T]):
    value: T
    as_of: datetime | None
    """The time of the newest fact the answer was computed over (None: no facts at all)."""


@dataclass(frozen=True, slots=True)
class UserCount:
    total: int
    """Accounts signed up before the range's end."""
    new: int
    """Accounts signed up within the range."""
    verified: int
    """Accounts that verified their address before the range's end."""


@dataclass(frozen=True, slots=True)
class GrowthPoint:
    start: date
    signups: int
    total: int
    """Accounts signed up before the bucket's end (those before the range included)."""


@dataclass(frozen=True, slots=True)
class ActivePoint:
    start: date
    active: int
    """Users who sent a message within the bucket."""
    dau: int
    """Users who sent a message on the bucket's last day."""
    wau: int
    """... in the 7 days ending with the bucket's last day."""
    mau: int
    """... in the 30 days ending with the bucket's last day."""


@dataclass(frozen=True, slots=True)
class CohortWeek:
    week: int
    """0: the signup week."""
    active: int
    rate: float


@dataclass(frozen=True, slots=True)
class Cohort:
    start: date
    """The Monday of the signup week."""
    size: int
    weeks: list[CohortWeek]


@dataclass(frozen=True, slots=True)
class MessagePoint:
    start: date
    messages: int
    users: int
    prompt_tokens: int
    completion_tokens: int
    cached: int
    errors: int


@dataclass(frozen=True, slots=True)
class ProviderCount:
    provider: str
    messages: int
    cached: int
    tokens: int


@dataclass(frozen=True, slots=True)
class ProviderPoint:
    start: date
    providers: list[ProviderCount]


@dataclass(frozen=True, slots=True)
class RevenuePoint:
    start: date
    succeeded_cents: int
    refunded_cents: int
    revenue_cents: int
    payments: int
    refunds: int
    failed: int


@dataclass(frozen=True, slots=True)
class MrrPoint:
    start: date
    mrr_cents: int
    paying_users: int
    arpu_cents: int
    churned_users: int
    churn: float
    ltv_cents: int | None
    """None when nobody churned over the 30 days ending with the bucket (no finite lifetime to estimate)."""


@dataclass(frozen=True, slots=True)
class PlanMargin:
    plan: str
    revenue_cents: int
    cost_cents: int
    margin_cents: int


@dataclass(frozen=True, slots=True)
class MarginPoint:
    start: date
    revenue_cents: int
    cost_cents: int
    margin_cents: int
    plans: list[PlanMargin]


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    provider: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int
    cost_cents: int


@dataclass(frozen=True, slots=True)
class ProviderPerformance:
    provider: str
    model: str
    requests: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    errors: int
    error_rate: float
    failovers: int
    tokens_per_second: float | None
