"""Billing's ports: its repositories and the payment gateway, in billing's own words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.billing.model import Payment, Plan, Subscription


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
    status: str
    """active, trialing, past_due, canceled or incomplete (incomplete_expired -> canceled, unpaid -> past_due)."""
    plan: str | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    client_secret: str | None = None
    latest_invoice: GatewayInvoice | None = None


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


class PlanCatalogue(Protocol):
    def all(self) -> Sequence[Plan]: ...
    def get(self, plan_id: str) -> Plan: ...
