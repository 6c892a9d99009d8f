"""Wire shapes of /api/billing (API.md)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from application.billing.queries import BillingUsage
from application.billing.view import SubscriptionView
from domain.billing.model import Payment, Plan


class PlanOut(msgspec.Struct):
    id: str
    name: str
    price_cents: int
    currency: str
    interval: str
    token_quota: int
    models: str
    features: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            plan.id,
            plan.name,
            plan.price_cents,
            plan.currency,
            plan.interval,
            plan.token_quota,
            plan.models,
            list(plan.features),
        )


class PlanList(msgspec.Struct):
    items: list[PlanOut]


class SubscribeBody(msgspec.Struct):
    plan: str
    payment_method_id: str | None = None


class SubscriptionOut(msgspec.Struct):
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    pending_plan: str | None
    client_secret: str | None = None

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        return cls(
            view.plan,
            view.status,
            view.current_period_start,
            view.current_period_end,
            view.cancel_at_period_end,
            view.pending_plan,
            view.client_secret,
        )


class BillingUsageOut(msgspec.Struct):
    plan: str
    period_start: datetime
    period_end: datetime
    token_quota: int
    tokens_used: int
    remaining: int

    @classmethod
    def of(cls, usage: BillingUsage) -> BillingUsageOut:
        return cls(
            usage.plan, usage.period_start, usage.period_end, usage.token_quota, usage.tokens_used, usage.remaining
        )


class PaymentOut(msgspec.Struct):
    id: UUID
    amount_cents: int
    currency: str
    status: str
    description: str
    invoice_url: str | None
    created_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            payment.id,
            payment.amount_cents,
            payment.currency,
            payment.status.value,
            payment.description,
            payment.invoice_url,
            payment.created_at,
        )


class PaymentPageOut(msgspec.Struct):
    items: list[PaymentOut]
    next_cursor: str | None


class Received(msgspec.Struct):
    received: bool
