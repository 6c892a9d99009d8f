"""What a user sees of their subscription, free users included (who have no subscription row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.billing.model import Subscription, SubscriptionStatus


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    pending_plan: str | None
    client_secret: str | None = None

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionView:
        return cls(
            plan=subscription.plan,
            status=subscription.status.value,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            cancel_at_period_end=subscription.cancel_at_period_end,
            pending_plan=subscription.pending_plan,
            client_secret=subscription.client_secret,
        )

    @classmethod
    def free(cls, period: tuple[datetime, datetime]) -> SubscriptionView:
        return cls("free", SubscriptionStatus.ACTIVE.value, period[0], period[1], False, None)
