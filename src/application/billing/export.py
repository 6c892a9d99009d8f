"""Billing's part of a user's data export: the subscription (or null) and every payment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from application.billing.ports import BillingUnitOfWork
from application.shared.export import every_page, picked

SUBSCRIPTION = "plan status current_period_start current_period_end cancel_at_period_end pending_plan created_at"
"""What the user knows of it: no gateway ids, no client secret."""
PAYMENT = "id amount_cents currency status description period_start period_end invoice_number plan created_at"


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
            "subscription": None if subscription is None else picked(subscription, SUBSCRIPTION),
            "payments": [picked(payment, PAYMENT) for payment in payments],
        }
