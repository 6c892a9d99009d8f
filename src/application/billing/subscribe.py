"""Subscribe to a plan: a first subscription, an upgrade (applies at once, prorated), or a downgrade
(waits for the period end in `pending_plan`). Subscribing to the current plan resumes a scheduled cancel
or downgrade. Every gateway call carries an idempotency key derived from the state it changes, so an
app-level retry of the same request never charges twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing.cancel import CancelAtPeriodEnd
from application.billing.facts import Before, record_changes
from application.billing.gateway import gateway_call_failed, ref_of
from application.billing.money import format_money
from application.billing.notices import queue_email
from application.billing.payments import InvoiceLink, record_payment
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import Account, BillingUnitOfWork
from application.billing.view import SubscriptionView
from domain.billing.errors import GatewayError
from domain.billing.model import FREE, Plan, Subscription, anniversary_period
from domain.billing.ports import GatewaySubscription, PaymentGateway
from domain.shared.clock import Clock
from domain.shared.errors import NotFound
from domain.shared.ids import new_id

log = logging.getLogger("parley.billing")


class Subscribe:
    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        gateway: PaymentGateway,
        plans: StaticPlanCatalogue,
        clock: Clock,
        invoice_link: InvoiceLink,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans
        self._clock = clock
        self._invoice_link = invoice_link

    async def __call__(self, user_id: UUID, plan_id: str, payment_method_id: str | None = None) -> SubscriptionView:
        plan = self._plans.get(plan_id)
        async with self._uow_factory() as uow:
            account = await uow.accounts.get(user_id)
            if account is None:
                raise NotFound("No such account.")
            current = await uow.subscriptions.get_for_user(user_id)
            try:
                if current is not None and current.grants_plan:
                    await self._gateway.recall(ref_of(current, self._plans))
                if current is None or not current.grants_plan:
                    if current is not None and current.awaits_first_payment:
                        if plan.id == current.plan and payment_method_id is None:
                            return SubscriptionView.of(current)  # the same invoice is still there to pay
                        await self._withdraw(uow, current)
                    if plan.is_free:
                        view = SubscriptionView.free(anniversary_period(account.created_at, self._clock.now()))
                        await uow.commit()
                        return view
                    subscription = await self._start(uow, account, plan, payment_method_id, current)
                elif plan.id == current.plan:
                    subscription = await self._resume(uow, current)
                elif plan.rank > self._plans.get(current.plan).rank:
                    subscription = await self._upgrade(uow, current, plan)
                else:
                    subscription = await self._downgrade(uow, current, plan)
            except GatewayError as exc:
                raise gateway_call_failed(exc) from exc
            await uow.commit()
        return SubscriptionView.of(subscription)

    async def _start(
        self,
        uow: BillingUnitOfWork,
        account: Account,
        plan: Plan,
        payment_method_id: str | None,
        previous: Subscription | None,
    ) -> Subscription:
        customer = await self._gateway.ensure_customer(
            account.user_id, account.email, previous.customer_id if previous else None
        )
        key = f"subscribe:{account.user_id}:{plan.id}:{previous.id if previous else 'first'}:{payment_method_id or '-'}"
        remote = await self._gateway.create_subscription(customer, plan, payment_method_id, key)
        now = self._clock.now()
        subscription = Subscription(
            id=new_id(),
            user_id=account.user_id,
            plan=plan.id,
            status=remote.status,
            gateway=self._gateway.name,
            current_period_start=remote.current_period_start,
            current_period_end=remote.current_period_end,
            external_id=remote.external_id,
            customer_id=customer,
            client_secret=remote.client_secret,
            created_at=now,
            updated_at=now,
        )
        await uow.subscriptions.add(subscription)
        await record_changes(uow, None, subscription, self._plans, now)
        if subscription.grants_plan:
            await self._activated(uow, subscription, plan, remote)
        log.info(
            "billing.subscribed",
            extra={"user_id": str(account.user_id), "plan": plan.id, "status": subscription.status.value},
        )
        return subscription

    async def _withdraw(self, uow: BillingUnitOfWork, waiting: Subscription) -> None:
        """End a subscription whose first invoice was never paid before another takes its place, so that paying
        that invoice later cannot start a second subscription beside the new one."""
        assert waiting.external_id is not None
        await self._gateway.cancel_now(waiting.external_id, f"withdraw:{waiting.id}")
        before = Before.of(waiting)
        waiting.mark_canceled(self._clock.now())
        await uow.subscriptions.update(waiting)
        await record_changes(uow, before, waiting, self._plans, self._clock.now())

    async def _activated(
        self, uow: BillingUnitOfWork, subscription: Subscription, plan: Plan, remote: GatewaySubscription
    ) -> None:
        await uow.accounts.set_plan(subscription.user_id, plan.id)
        await queue_email(
            uow,
            self._clock,
            subscription.user_id,
            "subscription_confirmed",
            plan=plan.name,
            period_end=f"{subscription.current_period_end:%Y-%m-%d}",
        )
        if remote.latest_invoice is not None:
            await record_payment(
                uow,
                self._clock,
                self._invoice_link,
                user_id=subscription.user_id,
                invoice=remote.latest_invoice,
                plan=plan,
                description=f"{plan.name} plan, monthly ({format_money(plan.price_cents, plan.currency)})",
            )

    async def _resume(self, uow: BillingUnitOfWork, current: Subscription) -> Subscription:
        period = current.current_period_end.isoformat()
        if current.cancel_at_period_end and current.external_id:
            await self._gateway.set_cancel_at_period_end(current.external_id, False, f"resume:{current.id}:{period}")
        elif current.pending_plan and current.external_id:  # undo a scheduled downgrade
            plan = self._plans.get(current.plan)
            key = f"undo-downgrade:{current.id}:{current.pending_plan}:{period}"
            await self._gateway.change_plan(current.external_id, plan, prorate=False, idempotency_key=key)
        current.reactivate(self._clock.now())
        await uow.subscriptions.update(current)
        return current

    async def _upgrade(self, uow: BillingUnitOfWork, current: Subscription, plan: Plan) -> Subscription:
        assert current.external_id is not None
        key = f"upgrade:{current.id}:{current.plan}:{plan.id}:{current.current_period_end.isoformat()}"
        remote = await self._gateway.change_plan(current.external_id, plan, prorate=True, idempotency_key=key)
        if remote.latest_invoice is not None and not remote.latest_invoice.paid:
            # The card needs the customer's action: the upgrade applies when the invoice is paid (webhook).
            current.await_payment(remote.client_secret, self._clock.now())
            await uow.subscriptions.update(current)
            return current
        before = Before.of(current)
        current.upgrade(plan.id, remote.status, self._clock.now())
        await uow.subscriptions.update(current)
        await record_changes(uow, before, current, self._plans, self._clock.now())
        await uow.accounts.set_plan(current.user_id, current.entitled_plan)  # the new quota applies at once
        if remote.latest_invoice is not None:
            await record_payment(
                uow,
                self._clock,
                self._invoice_link,
                user_id=current.user_id,
                invoice=remote.latest_invoice,
                plan=plan,
                description=f"Upgrade to {plan.name} (prorated)",
            )
        log.info("billing.upgraded", extra={"user_id": str(current.user_id), "plan": plan.id})
        return current

    async def _downgrade(self, uow: BillingUnitOfWork, current: Subscription, plan: Plan) -> Subscription:
        if plan.id == FREE:
            return await CancelAtPeriodEnd(self._gateway, self._clock)(uow, current)
        assert current.external_id is not None
        key = f"downgrade:{current.id}:{plan.id}:{current.current_period_end.isoformat()}"
        # The gateway bills the lower price from the next period; our plan and quota change at the period end.
        await self._gateway.change_plan(current.external_id, plan, prorate=False, idempotency_key=key)
        current.downgrade(plan.id, self._clock.now())
        await uow.subscriptions.update(current)
        log.info("billing.downgrade_scheduled", extra={"user_id": str(current.user_id), "plan": plan.id})
        return current
