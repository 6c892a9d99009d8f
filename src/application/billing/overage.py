"""Usage-based overage (off unless a plan has a rate): conversation reports tokens spent beyond the quota, one
message per reply (topics.OVERAGE), and on a gateway that renews by itself this job hands them over as
metered usage, once per usage record (the idempotency key); the gateway sums them on the invoice that closes
the period. A gateway Parley renews itself is told the period's overage by the billing cycle instead, just
before the renewal that bills it (renewals.py), so each token beyond the quota is billed exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing.gateway import ref_of
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.shared.ports import OutboxMessage
from domain.billing.ports import PaymentGateway

log = logging.getLogger("parley.billing")


class ReportOverage:
    def __init__(
        self, uow_factory: Callable[[], BillingUnitOfWork], gateway: PaymentGateway, plans: StaticPlanCatalogue
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans

    async def __call__(self, message: OutboxMessage) -> None:
        if not self._gateway.renews_itself:
            return  # the billing cycle reports the whole period at its renewal
        user_id = UUID(str(message.payload["user_id"]))
        tokens = int(message.payload["tokens"])
        async with self._uow_factory() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
        if subscription is None or not subscription.grants_plan or subscription.customer_id is None:
            log.warning("billing.overage_without_subscription", extra={"user_id": str(user_id), "tokens": tokens})
            return
        await self._gateway.recall(ref_of(subscription, self._plans))
        key = f"overage:{message.payload['usage_id']}"
        await self._gateway.report_overage(subscription.customer_id, tokens, key)
        log.info("billing.overage_reported", extra={"user_id": str(user_id), "tokens": tokens})
