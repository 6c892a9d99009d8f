"""Billing's ports: its repositories and the payment gateway, in billing's own words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from domain.billing.model import Payment, Plan, Subscription, SubscriptionStatus


@dataclass(frozen=True, slots=True)
class GatewayInvoice:
    external_id: str
    amount_cents: int
    currency: str
    paid: bool
    hosted_url: str | None
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class GatewaySubscription:
    """The gateway's view of a subscription (re-fetched, never trusted from an event body)."""

    external_id: str
    customer_id: str
    status: SubscriptionStatus
    """The gateway's status in ours (Stripe's incomplete_expired is canceled, unpaid past_due, ...)."""
    plan: str | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    client_secret: str | None = None
    latest_invoice: GatewayInvoice | None = None


class GatewayEventKind(StrEnum):
    """What a gateway's webhook event means to billing."""

    SUBSCRIPTION_CHANGED = "subscription_changed"
    """Created, updated or deleted: sync from the gateway's current view."""
    INVOICE_PAID = "invoice_paid"
    INVOICE_PAYMENT_FAILED = "invoice_payment_failed"
    CHARGE_REFUNDED = "charge_refunded"
    """Money of a paid invoice went back to the customer (all of it, or part)."""
    OTHER = "other"
    """Anything else: stored and marked processed, with no effect."""


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A verified webhook event, parsed by the gateway's adapter into billing's words."""

    kind: GatewayEventKind
    subscription_external_id: str | None = None
    """The subscription it concerns (None when it concerns none)."""
    invoice: GatewayInvoice | None = None
    """For invoice events: its amount (paid, or due when the payment failed), currency and period."""
    refund: GatewayRefund | None = None
    """For CHARGE_REFUNDED: the invoice and how much of it has been refunded so far."""


@dataclass(frozen=True, slots=True)
class GatewayRefund:
    invoice_external_id: str
    """The gateway's id of the invoice the refunded charge paid (a payment's `external_id`)."""
    refunded_cents: int
    """Everything refunded of that charge so far (a second partial refund reports the sum of both)."""
    currency: str


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """A subscription as Parley recorded it, for gateways that keep no state of their own."""

    external_id: str
    customer_id: str
    plan: Plan
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool


class PaymentGateway(Protocol):
    """Charges money. Every write takes an idempotency key derived from what it does, so a retried call
    (app-level or network) never charges twice."""

    name: str

    @property
    def renews_itself(self) -> bool:
        """True (Stripe): the gateway starts and charges each period by itself, billing the usage reported to
        it during the period (`report_overage`, once per reply), and tells Parley by webhook; Parley's billing
        cycle leaves its subscriptions alone. False (the local gateway): Parley closes each period by calling
        `renew`, and reports the closing period's overage just before."""
        ...

    def parse_event(self, payload: Mapping[str, Any]) -> GatewayEvent:
        """A stored, verified webhook event in billing's words. Raises GatewayError for an event of a handled
        kind that is malformed (retrying does not help; the job ends in the dead letters)."""
        ...

    async def recall(self, ref: SubscriptionRef) -> None:
        """Know this subscription before acting on it. Stripe knows its own; the local gateway keeps no state
        across restarts or processes and takes Parley's record as the truth."""
        ...

    async def ensure_customer(self, user_id: UUID, email: str, existing_id: str | None) -> str: ...
    async def create_subscription(
        self, customer_id: str, plan: Plan, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription: ...
    async def change_plan(
        self, external_id: str, plan: Plan, *, prorate: bool, idempotency_key: str
    ) -> GatewaySubscription: ...
    async def set_cancel_at_period_end(
        self, external_id: str, cancel: bool, idempotency_key: str
    ) -> GatewaySubscription: ...
    async def cancel_now(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        """End the subscription at once, without a refund or a further charge (the owner deleted the account).
        Canceling one that has ended already changes nothing and answers its view."""
        ...

    async def retrieve_subscription(self, external_id: str) -> GatewaySubscription: ...
    async def renew(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        """Start the next period and charge it (the local gateway; Stripe renews by itself)."""
        ...

    async def report_overage(self, customer_id: str, tokens: int, idempotency_key: str) -> None: ...


class SubscriptionRepository(Protocol):
    async def add(self, subscription: Subscription) -> None: ...
    async def get_for_user(self, user_id: UUID) -> Subscription | None: ...
    async def get_by_external_id(self, external_id: str) -> Subscription | None: ...
    async def update(self, subscription: Subscription) -> None: ...
    async def due_for_renewal(self, now: datetime, limit: int) -> Sequence[Subscription]:
        """Subscriptions whose current period has ended (any gateway), oldest first, locked where possible."""
        ...


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None: ...
    async def get(self, payment_id: UUID) -> Payment | None: ...
    async def get_by_external_id(self, external_id: str) -> Payment | None: ...
    async def list_for_user(
        self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None
    ) -> Sequence[Payment]: ...
    async def next_invoice_number(self) -> int: ...
    async def update(self, payment: Payment) -> None:
        """Store what changes on a recorded payment: its refunded amount."""
        ...


class PlanCatalogue(Protocol):
    def all(self) -> Sequence[Plan]: ...
    def get(self, plan_id: str) -> Plan: ...
