"""Cancel at the period end: the plan and its quota stay until then, then the user is on free. A deleted
account's subscription is canceled at once instead."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing.facts import Before, record_changes
from application.billing.gateway import gateway_call_failed, ref_of
from application.billing.notices import queue_email
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.billing.view import SubscriptionView
from application.shared.ports import OutboxMessage
from domain.billing.errors import GatewayError, NoSubscription
from domain.billing.model import Subscription, SubscriptionStatus
from domain.billing.ports import PaymentGateway
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")


class CancelSubscription:
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
        self._cancel = CancelAtPeriodEnd(gateway, clock)

    async def __call__(self, user_id: UUID) -> SubscriptionView:
        async with self._uow_factory() as uow:
            current = await uow.subscriptions.get_for_user(user_id)
            if current is None or not current.grants_plan:
                raise NoSubscription()
            try:
                await self._gateway.recall(ref_of(current, self._plans))
                subscription = await self._cancel(uow, current)
            except GatewayError as exc:
                raise gateway_call_failed(exc) from exc
            await uow.commit()
        return SubscriptionView.of(subscription)

    async def for_deleted_account(self, message: OutboxMessage) -> None:
        """The job of `topics.ACCOUNT_DELETED`: end the subscription now, whatever its state (active, past due,
        set to cancel, awaiting payment), at the gateway too, with no email (there is no address any more), and
        put the account on free. Payments and invoices stay. A gateway failure raises, so the job is retried;
        the gateway call's key is the subscription's, so a retry cancels once. One that has ended is left alone."""
        user_id = UUID(str(message.payload["user_id"]))
        async with self._uow_factory() as uow:
            current = await uow.subscriptions.get_for_user(user_id)
            if current is None or current.status is SubscriptionStatus.CANCELED:
                return
            if current.external_id and current.customer_id:
                await self._gateway.recall(ref_of(current, self._plans))
                await self._gateway.cancel_now(current.external_id, f"account-deleted:{current.id}")
            before = Before.of(current)
            current.mark_canceled(self._clock.now())
            await uow.subscriptions.update(current)
            await record_changes(uow, before, current, self._plans, self._clock.now())
            await uow.accounts.set_plan(user_id, current.entitled_plan)
            await uow.commit()
        log.info("billing.canceled_for_deleted_account", extra={"user_id": str(user_id)})


class CancelAtPeriodEnd:
    """The shared step of cancelling and of downgrading to free; asking twice changes nothing."""

    def __init__(self, gateway: PaymentGateway, clock: Clock) -> None:
        self._gateway = gateway
        self._clock = clock

    async def __call__(self, uow: BillingUnitOfWork, current: Subscription) -> Subscription:
        if current.cancel_at_period_end:
            return current
        if current.external_id:
            key = f"cancel:{current.id}:{current.current_period_end.isoformat()}"
            await self._gateway.set_cancel_at_period_end(current.external_id, True, key)
        current.schedule_cancel(self._clock.now())
        await uow.subscriptions.update(current)
        period_end = f"{current.current_period_end:%Y-%m-%d}"
        await queue_email(
            uow, self._clock, current.user_id, "cancellation_scheduled", plan=current.plan, period_end=period_end
        )
        log.info("billing.cancel_scheduled", extra={"user_id": str(current.user_id)})
        return current
