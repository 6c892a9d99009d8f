"""Billing's test data: polyfactory factories of the billing dataclasses, with values that make sense together
(a subscription's period is the month from its start, every moment is UTC, money is integer cents in usd).
A test names only what it is about: `SubscriptionFactory.build(plan="pro", cancel_at_period_end=True)`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from polyfactory import Use
from polyfactory.decorators import post_generated
from polyfactory.factories import DataclassFactory

from application.billing.ports import Account, ReceivedEvent
from domain.billing.model import (
    InvoiceLine,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
    add_month,
)
from domain.billing.ports import GatewayInvoice, GatewaySubscription
from domain.shared.ids import new_id

START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
"""Where every factory's time begins: a 31st, so the month after it is clamped (Feb 28)."""


class PlanFactory(DataclassFactory[Plan]):
    id = Use(lambda: f"plan_{uuid4().hex[:8]}")
    currency = "usd"
    price_cents = Use(DataclassFactory.__random__.randint, 100, 10_000)
    token_quota = Use(DataclassFactory.__random__.randint, 10_000, 1_000_000)
    models = "all"
    features = ()
    rank = 1
    overage_per_1k_tokens_cents = None
    interval = "month"


class SubscriptionFactory(DataclassFactory[Subscription]):
    """An active local-gateway subscription to `plus` for the month from START."""

    id = Use(new_id)
    user_id = Use(new_id)
    plan = "plus"
    status = SubscriptionStatus.ACTIVE
    gateway = "local"
    current_period_start = START
    cancel_at_period_end = False
    pending_plan = None
    external_id = Use(lambda: f"sub_local_{uuid4().hex}")
    customer_id = Use(lambda: f"cus_local_{uuid4().hex}")
    client_secret = None
    created_at = START
    updated_at = START

    @post_generated
    @classmethod
    def current_period_end(cls, current_period_start: datetime) -> datetime:
        return add_month(current_period_start)


class InvoiceLineFactory(DataclassFactory[InvoiceLine]):
    amount_cents = Use(DataclassFactory.__random__.randint, 1, 10_000)


class PaymentFactory(DataclassFactory[Payment]):
    id = Use(new_id)
    user_id = Use(new_id)
    amount_cents = 2_000
    currency = "usd"
    status = PaymentStatus.SUCCEEDED
    description = "Plus plan"
    period_start = START
    created_at = START
    invoice_number = Use(lambda: f"PRL-{DataclassFactory.__random__.randint(1, 999_999):06d}")
    invoice_url = None
    external_id = Use(lambda: f"in_{uuid4().hex}")
    plan = "plus"
    lines = ()

    @post_generated
    @classmethod
    def period_end(cls, period_start: datetime) -> datetime:
        return add_month(period_start)


class GatewayInvoiceFactory(DataclassFactory[GatewayInvoice]):
    """A paid invoice of the plus price for the month from START."""

    external_id = Use(lambda: f"in_{uuid4().hex}")
    amount_cents = 2_000
    currency = "usd"
    paid = True
    hosted_url = None
    period_start = START

    @post_generated
    @classmethod
    def period_end(cls, period_start: datetime) -> datetime:
        return add_month(period_start)


class GatewaySubscriptionFactory(DataclassFactory[GatewaySubscription]):
    """The gateway's view of an active plus subscription for the month from START."""

    external_id = Use(lambda: f"sub_{uuid4().hex}")
    customer_id = Use(lambda: f"cus_{uuid4().hex}")
    status = SubscriptionStatus.ACTIVE
    plan = "plus"
    current_period_start = START
    cancel_at_period_end = False
    client_secret = None
    latest_invoice = None

    @post_generated
    @classmethod
    def current_period_end(cls, current_period_start: datetime) -> datetime:
        return add_month(current_period_start)


class AccountFactory(DataclassFactory[Account]):
    """A free account that signed up at START."""

    user_id = Use(new_id)
    email = Use(lambda: f"user-{uuid4().hex[:8]}@example.com")
    name = None
    plan = "free"
    created_at = START
    deleted = False


class ReceivedEventFactory(DataclassFactory[ReceivedEvent]):
    id = Use(lambda: f"evt_{uuid4().hex}")
    type = "other"
    payload: Any = Use(dict)
    received_at = START
    processed_at = None
