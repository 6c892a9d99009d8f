"""Plans, subscriptions and payments. Money is integer cents with a lower-case currency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from domain.billing.ports import GatewaySubscription

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
    period until `current_period_end`; a downgrade waits in `pending_plan`, a cancel in `cancel_at_period_end`.

    Its transitions are the methods below; each says what it changes, and use cases call them rather than
    assigning fields. None talks to a gateway: a use case asks the gateway first and hands the answer in."""

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

    @property
    def awaits_first_payment(self) -> bool:
        """Started at the gateway, its first invoice not paid yet (a card that needs the customer, or one the
        browser has still to give): it grants nothing, but paying that invoice would still start it."""
        return self.status is SubscriptionStatus.INCOMPLETE and self.external_id is not None

    @property
    def entitled_plan(self) -> str:
        """The plan the account is on because of this subscription: its plan while it grants one, else free."""
        return self.plan if self.grants_plan else FREE

    @property
    def next_plan(self) -> str:
        """The plan the next period's invoice charges (a scheduled downgrade's, unless it is a cancel)."""
        return self.pending_plan if self.pending_plan not in (None, FREE) else self.plan

    def upgrade(self, plan: str, status: SubscriptionStatus, now: datetime) -> None:
        """A paid upgrade applies at once and replaces whatever was scheduled (downgrade or cancel)."""
        self.plan = plan
        self.status = status
        self.pending_plan = None
        self.cancel_at_period_end = False
        self.client_secret = None
        self.updated_at = now

    def await_payment(self, client_secret: str | None, now: datetime) -> None:
        """A change whose invoice needs the customer (3-D Secure): nothing applies until it is paid."""
        self.client_secret = client_secret
        self.updated_at = now

    def downgrade(self, plan: str, now: datetime) -> None:
        """A lower plan from the next period on: the current plan and quota stay until the period ends."""
        self.pending_plan = plan
        self.updated_at = now

    def schedule_cancel(self, now: datetime) -> bool:
        """Cancel at the period end (the plan stays until then); False if a cancel was scheduled already."""
        if self.cancel_at_period_end:
            return False
        self.cancel_at_period_end = True
        self.pending_plan = FREE
        self.updated_at = now
        return True

    def reactivate(self, now: datetime) -> None:
        """Withdraw a scheduled cancel or downgrade: the subscription renews on its current plan."""
        self.cancel_at_period_end = False
        self.pending_plan = None
        self.updated_at = now

    def renew(self, period_start: datetime, period_end: datetime, now: datetime) -> None:
        """The next period starts: a pending downgrade becomes the plan (a pending cancel never renews)."""
        if self.pending_plan is not None and self.pending_plan != FREE:
            self.plan, self.pending_plan = self.pending_plan, None
        self.current_period_start = period_start
        self.current_period_end = period_end
        self.status = SubscriptionStatus.ACTIVE
        self.updated_at = now

    def mark_past_due(self, now: datetime) -> None:
        """The period's payment failed: the plan stays granted while the gateway retries."""
        self.status = SubscriptionStatus.PAST_DUE
        self.updated_at = now

    def mark_canceled(self, now: datetime) -> None:
        """The subscription has ended: it grants nothing any more, and nothing is scheduled."""
        self.status = SubscriptionStatus.CANCELED
        self.pending_plan = None
        self.client_secret = None
        self.updated_at = now

    def sync(self, remote: GatewaySubscription, now: datetime) -> None:
        """Take the gateway's view (re-fetched, so the order of webhooks does not matter): a later period is
        a renewal; a plan the gateway moved to is adopted unless a downgrade is waiting for the period end."""
        if remote.current_period_start > self.current_period_start:
            self.renew(remote.current_period_start, remote.current_period_end, now)
        else:
            self.current_period_start = remote.current_period_start
            self.current_period_end = remote.current_period_end
        if remote.plan and remote.plan != self.plan and not self.pending_plan:
            self.plan = remote.plan  # e.g. an upgrade whose payment the customer just completed
        self.cancel_at_period_end = remote.cancel_at_period_end
        if remote.status is SubscriptionStatus.CANCELED:
            self.mark_canceled(now)
            return
        self.status = remote.status
        # The gateway's latest invoice says whether the customer still has a payment to confirm: a paid one
        # (a first payment or an upgrade completed in the browser) leaves nothing for the billing page to ask.
        self.client_secret = remote.client_secret
        self.updated_at = now


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
    refunded_cents: int = 0
    """How much of `amount_cents` went back to the customer (0 to amount_cents)."""

    def refund(self, refunded_so_far: int) -> int:
        """The gateway says `refunded_so_far` of the payment has been refunded in all: record it and return
        what is newly refunded (0 when a late or replayed event says no more than is recorded)."""
        total = min(self.amount_cents, max(self.refunded_cents, refunded_so_far))
        newly, self.refunded_cents = total - self.refunded_cents, total
        return newly


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
