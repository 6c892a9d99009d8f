"""Usage-based overage (off unless a plan has a rate): conversation reports tokens spent beyond the quota,
and this job hands them to Stripe as meter events, once per usage record (the idempotency key). The local
gateway's subscriptions are billed for overage at renewal instead, from the durable usage records
(renewals.py), so nothing depends on which process saw the reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.billing.subscribe import ref_of
from application.shared.ports import OutboxMessage
from domain.billing.ports import PaymentGateway

log = logging.getLogger("parley.billing")
LOCAL_GATEWAY = "local"


class ReportOverage:
    def __init__(
        self, uow_factory: Callable[[], BillingUnitOfWork], gateway: PaymentGateway, plans: StaticPlanCatalogue
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans

    async def __call__(self, message: OutboxMessage) -> None:
        user_id = UUID(str(message.payload["user_id"]))
        tokens = int(message.payload["tokens"])
        async with self._uow_factory() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
        if subscription is not None and subscription.gateway == LOCAL_GATEWAY:
            return
        if subscription is None or not subscription.grants_plan or subscription.customer_id is None:
            log.warning("billing.overage_without_subscription", extra={"user_id": str(user_id), "tokens": tokens})
            return
        await self._gateway.recall(ref_of(subscription, self._plans))
        key = f"overage:{message.payload['usage_id']}"
        await self._gateway.report_overage(subscription.customer_id, tokens, key)
        log.info("billing.overage_reported", extra={"user_id": str(user_id), "tokens": tokens})
