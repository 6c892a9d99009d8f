"""Billing's part of a user's data export: the subscription (or null) and every payment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from application.billing.ports import BillingUnitOfWork
from application.shared.export import every_page
from domain.billing.model import Payment, Subscription


def _subscription(subscription: Subscription) -> dict[str, Any]:
    """No gateway ids or client secret: what the user knows of it."""
    return {
        "plan": subscription.plan,
        "status": subscription.status.value,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "pending_plan": subscription.pending_plan,
        "created_at": subscription.created_at,
    }


def _payment(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": payment.status.value,
        "description": payment.description,
        "period_start": payment.period_start,
        "period_end": payment.period_end,
        "invoice_number": payment.invoice_number,
        "plan": payment.plan,
        "created_at": payment.created_at,
    }


class BillingDataExport:
    """`subscription` (null for a free user who never subscribed) and `payments` (newest first)."""

    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def export(self, user_id: UUID) -> Mapping[str, Any]:
        async with self._uow_factory() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
            payments = await every_page(
                lambda limit, before: uow.payments.list_for_user(user_id, limit, before),
                lambda payment: (payment.created_at, payment.id),
            )
        return {
            "subscription": _subscription(subscription) if subscription is not None else None,
            "payments": [_payment(payment) for payment in payments],
        }
