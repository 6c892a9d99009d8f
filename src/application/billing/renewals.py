"""Period ends, without anyone calling, on a gateway that does not renew by itself (the local one): close
each ended period, ending a subscription set to cancel or renewing it (a pending downgrade applies, the
closing period's overage and the next period are charged). A gateway that renews itself (Stripe) charges
its periods and bills its metered overage on its own and tells us by webhook, so this leaves it alone.
Each transition is keyed by the period it closes, and rows are claimed with SKIP LOCKED, so any number of
schedulers may run at once and each period is closed exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from application.billing.facts import Before, record_changes
from application.billing.gateway import ref_of
from application.billing.payments import InvoiceLink, record_payment
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.shared.allowance import Allowance, QuotaMeter
from domain.billing.model import Plan, Subscription
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
        quota: QuotaMeter,
        batch: int = 50,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans
        self._clock = clock
        self._invoice_link = invoice_link
        self._quota = quota
        self._batch = batch

    async def __call__(self) -> int:
        """Close every period that has ended; return how many subscriptions moved on."""
        if self._gateway.renews_itself:
            return 0
        async with self._uow_factory() as uow:
            due = await uow.subscriptions.due_for_renewal(self._clock.now(), self._batch)
            for subscription in due:
                await self._close_period(uow, subscription)
            await uow.commit()
        return len(due)

    async def _close_period(self, uow: BillingUnitOfWork, subscription: Subscription) -> None:
        assert subscription.external_id is not None
        await self._gateway.recall(ref_of(subscription, self._plans))
        now = self._clock.now()
        before = Before.of(subscription)
        if subscription.cancel_at_period_end:
            subscription.mark_canceled(now)
            log.info("billing.canceled", extra={"user_id": str(subscription.user_id)})
        else:
            await self._report_overage(subscription, self._plans.get(subscription.plan))
            period = subscription.current_period_end.isoformat()
            remote = await self._gateway.renew(subscription.external_id, f"renew:{subscription.id}:{period}")
            subscription.sync(remote, now)
            plan = self._plans.get(subscription.plan)
            if remote.latest_invoice is not None:
                await record_payment(
                    uow,
                    self._clock,
                    self._invoice_link,
                    user_id=subscription.user_id,
                    invoice=remote.latest_invoice,
                    plan=plan,
                    description=f"{plan.name} plan, {subscription.current_period_start:%Y-%m-%d} to "
                    f"{subscription.current_period_end:%Y-%m-%d}",
                )
            log.info("billing.renewed", extra={"user_id": str(subscription.user_id), "plan": plan.id})
        await uow.subscriptions.update(subscription)
        await record_changes(uow, before, subscription, self._plans, now)
        await uow.accounts.set_plan(subscription.user_id, subscription.entitled_plan)

    async def _report_overage(self, subscription: Subscription, plan: Plan) -> None:
        """The closing period's tokens beyond the quota (as the quota meter counts them, from the durable usage
        records) go on the renewal invoice: plans with an overage rate only, one report per period."""
        if not plan.overage_per_1k_tokens_cents or subscription.customer_id is None:
            return
        period = Allowance(
            plan.id, plan.token_quota, subscription.current_period_start, subscription.current_period_end
        )
        beyond = (await self._quota.status(subscription.user_id, period)).used - plan.token_quota
        if beyond > 0:
            key = f"overage:{subscription.id}:{subscription.current_period_end.isoformat()}"
            await self._gateway.report_overage(subscription.customer_id, beyond, key)
