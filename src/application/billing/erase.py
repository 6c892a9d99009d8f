"""A deleted account's subscription ends at once (topics.ACCOUNT_DELETED), at the gateway too; its payments and
invoices are kept for accounting (the user row no longer carries the address)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing.gateway import ref_of
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.shared.ports import OutboxMessage
from domain.billing.model import SubscriptionStatus
from domain.billing.ports import PaymentGateway
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")


class CancelDeletedAccount:
    """Cancel the user's subscription now, whatever its state (active, past due, awaiting payment), with no
    email: there is no address any more. A gateway failure raises, so the job is retried; the gateway call's
    key is the subscription's, so a retry cancels once. One already canceled is left alone."""

    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        gateway: PaymentGateway,
        plans: StaticPlanCatalogue,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans
        self._clock = clock

    async def __call__(self, message: OutboxMessage) -> None:
        user_id = UUID(str(message.payload["user_id"]))
        async with self._uow_factory() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
            if subscription is None or subscription.status is SubscriptionStatus.CANCELED:
                return
            if subscription.external_id and subscription.customer_id:
                await self._gateway.recall(ref_of(subscription, self._plans))
                await self._gateway.cancel_now(subscription.external_id, f"account-deleted:{subscription.id}")
            subscription.mark_canceled(self._clock.now())
            await uow.subscriptions.update(subscription)
            await uow.accounts.set_plan(user_id, subscription.entitled_plan)
            await uow.commit()
        log.info("billing.canceled_for_deleted_account", extra={"user_id": str(user_id)})
