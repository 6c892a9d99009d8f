"""Billing's analytics facts (application/shared/facts.py), recorded in the unit of work that changes the
subscription or the payment.

A subscription's facts come from comparing it before and after a change (`Before.of` then `record_changes`),
whatever made the change (a request, the renewal job, a webhook), so every path records the same facts:

- started: the subscription first grants its plan (at once, or when its first invoice is paid);
- upgraded / downgraded: the plan it grants changes to a higher / lower one (a downgrade applies at the period
  end, when the lower plan takes over, not when it is asked for);
- renewed: a new period starts, paid (or a past-due period is paid after all);
- past_due: the period's payment failed (the plan stays granted while the gateway retries);
- canceled: the subscription has ended (at the period end after a cancel, or at once for a deleted account).

Each id is `fact_id(kind, natural key)`: the subscription (and the period, or the plans, where it can happen
again), the payment, the gateway's event; so a job or webhook that runs twice records each fact once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from domain.billing.model import Payment, Subscription, SubscriptionStatus
from domain.billing.ports import GatewayInvoice

_PAID = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


@dataclass(frozen=True, slots=True)
class Before:
    """What a subscription's facts are decided from, taken before a change."""

    plan: str
    status: SubscriptionStatus
    period_start: datetime

    @classmethod
    def of(cls, subscription: Subscription | None) -> Before | None:
        if subscription is None:
            return None
        return cls(subscription.plan, subscription.status, subscription.current_period_start)


def subscription_facts(
    before: Before | None, after: Subscription, plans: StaticPlanCatalogue, now: datetime
) -> list[Fact]:
    """The facts of going from `before` (None: the subscription is new) to `after`."""
    kinds: list[tuple[FactKind, str]] = []
    period = after.current_period_start.isoformat()
    granted_before = before is not None and before.status in (*_PAID, SubscriptionStatus.PAST_DUE)
    if not granted_before and after.grants_plan:
        kinds.append((FactKind.SUBSCRIPTION_STARTED, ""))
    elif granted_before and before is not None:
        if after.status is SubscriptionStatus.CANCELED:
            kinds.append((FactKind.SUBSCRIPTION_CANCELED, ""))
        else:
            if after.plan != before.plan:
                higher = plans.get(after.plan).rank > plans.get(before.plan).rank
                kind = FactKind.SUBSCRIPTION_UPGRADED if higher else FactKind.SUBSCRIPTION_DOWNGRADED
                kinds.append((kind, f"{before.plan}:{after.plan}:{period}"))
            new_period = after.current_period_start > before.period_start
            if after.status is SubscriptionStatus.PAST_DUE:
                if new_period or before.status is not SubscriptionStatus.PAST_DUE:
                    kinds.append((FactKind.SUBSCRIPTION_PAST_DUE, period))
            elif after.status in _PAID and (new_period or before.status is SubscriptionStatus.PAST_DUE):
                kinds.append((FactKind.SUBSCRIPTION_RENEWED, period))
    previous = before.plan if before is not None and before.plan != after.plan else None
    return [_subscription_fact(kind, key, after, previous, plans, now) for kind, key in kinds]


async def record_changes(
    uow: BillingUnitOfWork, before: Before | None, after: Subscription, plans: StaticPlanCatalogue, now: datetime
) -> None:
    for fact in subscription_facts(before, after, plans, now):
        await uow.facts.record(fact)


def _subscription_fact(
    kind: FactKind,
    key: str,
    subscription: Subscription,
    previous_plan: str | None,
    plans: StaticPlanCatalogue,
    now: datetime,
) -> Fact:
    plan = plans.get(subscription.plan)
    return Fact(
        id=fact_id(kind, f"{subscription.id}:{key}" if key else str(subscription.id)),
        kind=kind,
        occurred_at=now,
        user_id=subscription.user_id,
        data={
            "subscription_id": str(subscription.id),
            "plan": plan.id,
            "previous_plan": previous_plan
            if kind in (FactKind.SUBSCRIPTION_UPGRADED, FactKind.SUBSCRIPTION_DOWNGRADED)
            else None,
            "price_cents": plan.price_cents,
            "currency": plan.currency,
            "status": subscription.status.value,
        },
    )


def payment_fact(kind: FactKind, payment: Payment, amount_cents: int, key: str, now: datetime) -> Fact:
    """payment.succeeded (key: the payment's id) or payment.refunded (key: the gateway's refund event)."""
    return Fact(
        id=fact_id(kind, key),
        kind=kind,
        occurred_at=now,
        user_id=payment.user_id,
        data={
            "payment_id": str(payment.id),
            "amount_cents": amount_cents,
            "currency": payment.currency,
            "plan": payment.plan,
        },
    )


def payment_failed_fact(
    subscription: Subscription, invoice: GatewayInvoice | None, plans: StaticPlanCatalogue, key: str, now: datetime
) -> Fact:
    """A charge that failed records no payment (payment_id is None): the amount due, keyed by the gateway's
    event."""
    plan = plans.get(subscription.plan)
    kind = FactKind.PAYMENT_FAILED
    return Fact(
        id=fact_id(kind, key),
        kind=kind,
        occurred_at=now,
        user_id=subscription.user_id,
        data={
            "payment_id": None,
            "amount_cents": invoice.amount_cents if invoice else plan.price_cents,
            "currency": invoice.currency if invoice else plan.currency,
            "plan": plan.id,
        },
    )
