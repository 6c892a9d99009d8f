"""Period ends, without anyone calling: renew local-gateway subscriptions (a payment and an invoice),
apply pending downgrades and scheduled cancellations. Stripe subscriptions renew at Stripe and reach us by
webhook. Each transition is keyed by the period it closes, and rows are claimed with SKIP LOCKED, so any
number of schedulers may run at once and each period is renewed exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from application.billing.payments import InvoiceLink, record_payment
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.billing.subscribe import ref_of, status_of
from domain.billing.model import FREE, Plan, Subscription, SubscriptionStatus
from domain.billing.ports import PaymentGateway
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")


class RunBillingCycle:
    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        gateway: PaymentGateway,
        plans: StaticPlanCatalogue,
        clock: Clock,
        invoice_link: InvoiceLink,
        batch: int = 50,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans
        self._clock = clock
        self._invoice_link = invoice_link
        self._batch = batch

    async def __call__(self) -> int:
        """Close every period that has ended; return how many subscriptions moved on."""
        async with self._uow_factory() as uow:
            due = [
                s
                for s in await uow.subscriptions.due_for_renewal(self._clock.now(), self._batch)
                if s.gateway == self._gateway.name
            ]
            for subscription in due:
                await self._close_period(uow, subscription)
            await uow.commit()
        return len(due)

    async def _close_period(self, uow: BillingUnitOfWork, subscription: Subscription) -> None:
        assert subscription.external_id is not None
        await self._gateway.recall(ref_of(subscription, self._plans))
        period = subscription.current_period_end.isoformat()
        if subscription.cancel_at_period_end:
            subscription.status = SubscriptionStatus.CANCELED
            subscription.pending_plan = None
            await uow.accounts.set_plan(subscription.user_id, FREE)
            log.info("billing.canceled", extra={"user_id": str(subscription.user_id)})
        else:
            if subscription.pending_plan:  # the gateway already bills it from this renewal on
                subscription.plan, subscription.pending_plan = subscription.pending_plan, None
                await uow.accounts.set_plan(subscription.user_id, subscription.plan)
            plan = self._plans.get(subscription.plan)
            await self._report_overage(uow, subscription, plan, period)
            remote = await self._gateway.renew(subscription.external_id, f"renew:{subscription.id}:{period}")
            subscription.status = status_of(remote)
            subscription.current_period_start = remote.current_period_start
            subscription.current_period_end = remote.current_period_end
            if remote.latest_invoice is not None:
                await record_payment(
                    uow,
                    self._clock,
                    self._invoice_link,
                    user_id=subscription.user_id,
                    invoice=remote.latest_invoice,
                    plan=plan,
                    description=f"{plan.name} plan, {remote.current_period_start:%Y-%m-%d} to "
                    f"{remote.current_period_end:%Y-%m-%d}",
                )
            log.info("billing.renewed", extra={"user_id": str(subscription.user_id), "plan": plan.id})
        subscription.updated_at = self._clock.now()
        await uow.subscriptions.update(subscription)

    async def _report_overage(
        self, uow: BillingUnitOfWork, subscription: Subscription, plan: Plan, period: str
    ) -> None:
        """The closing period's tokens beyond the quota, from the durable usage records, go on the renewal
        invoice (plans with an overage rate only; one report per period, keyed by it)."""
        if not plan.overage_per_1k_tokens_cents or subscription.customer_id is None:
            return
        used = await uow.usage.total_for_period(subscription.user_id, subscription.current_period_start)
        beyond = used - plan.token_quota
        if beyond > 0:
            key = f"overage:{subscription.id}:{period}"
            await self._gateway.report_overage(subscription.customer_id, beyond, key)
