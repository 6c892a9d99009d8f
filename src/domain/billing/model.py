"""Plans, subscriptions and payments. Money is integer cents with a lower-case currency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

FREE = "free"


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    price_cents: int
    currency: str
    token_quota: int
    models: str
    """`basic` (models every plan may use) or `all`."""
    features: tuple[str, ...] = ()
    rank: int = 0
    """Order of plans: a higher rank is an upgrade."""
    overage_per_1k_tokens_cents: int | None = None
    """When set, tokens beyond the quota are billed per 1,000 instead of refused."""
    interval: str = "month"

    @property
    def is_free(self) -> bool:
        return self.price_cents == 0


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    INCOMPLETE = "incomplete"


@dataclass(kw_only=True)
class Subscription:
    """A user's paid subscription (a free user has none). `plan` and its quota stay those of the current
    period until `current_period_end`; a downgrade waits in `pending_plan`, a cancel in `cancel_at_period_end`."""

    id: UUID
    user_id: UUID
    plan: str
    status: SubscriptionStatus
    gateway: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool = False
    pending_plan: str | None = None
    external_id: str | None = None
    customer_id: str | None = None
    client_secret: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def grants_plan(self) -> bool:
        return self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(kw_only=True)
class Payment:
    id: UUID
    user_id: UUID
    amount_cents: int
    currency: str
    status: PaymentStatus
    description: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    invoice_number: str
    invoice_url: str | None = None
    external_id: str | None = None
    """The gateway's invoice id: unique, so a replayed webhook records a payment once."""
    plan: str | None = None
    lines: tuple[InvoiceLine, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    amount_cents: int


def add_month(moment: datetime, months: int = 1) -> datetime:
    """The same day and time `months` later, clamped to the month's last day (Jan 31 -> Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def anniversary_period(anchor: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The monthly period anchored on `anchor` (signup for free users, the billing anchor for paid ones)
    that contains `now`. Each boundary is computed from the anchor, so clamping never drifts (Jan 31 anchor:
    Feb 28, Mar 31, Apr 30, ...)."""
    k = max(0, (now.year - anchor.year) * 12 + now.month - anchor.month - 1)
    while add_month(anchor, k + 1) <= now:
        k += 1
    return add_month(anchor, k), add_month(anchor, k + 1)
