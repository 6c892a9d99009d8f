"""Gateway webhooks: verified events are stored on receipt (the id is unique, so a duplicate is answered
2xx and applied once) together with a job, and the job applies them. The job never trusts the order of
events or the object in the body: it re-fetches the subscription, so a late `updated` cannot revive a
deleted subscription."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from application.billing import topics
from application.billing.money import format_money
from application.billing.notices import queue_email
from application.billing.payments import InvoiceLink, record_payment
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork, ReceivedEvent
from application.billing.subscribe import status_of
from application.shared.ports import OutboxMessage
from domain.billing.model import FREE, Subscription, SubscriptionStatus
from domain.billing.ports import GatewayInvoice, PaymentGateway
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")
HANDLED = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
}


class ReceiveGatewayEvent:
    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, event: Mapping[str, Any]) -> bool:
        """Store a verified event and queue its processing; False if it was received before."""
        now = self._clock.now()
        async with self._uow_factory() as uow:
            stored = await uow.received_events.add(
                ReceivedEvent(id=str(event["id"]), type=str(event["type"]), payload=dict(event), received_at=now)
            )
            if stored:
                message = OutboxMessage(topic=topics.GATEWAY_EVENT, payload={"event_id": event["id"]}, created_at=now)
                await uow.outbox.add(message)
            await uow.commit()
        log.info("billing.webhook", extra={"event_id": event["id"], "type": event["type"], "duplicate": not stored})
        return stored


def _subscription_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "subscription":
        return str(obj["id"])
    direct = obj.get("subscription")
    if isinstance(direct, str):
        return direct
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def _invoice_of(obj: Mapping[str, Any], subscription: Subscription) -> GatewayInvoice:
    lines = (obj.get("lines") or {}).get("data") or []
    period = lines[0].get("period") if lines else None
    start = datetime.fromtimestamp(period["start"], UTC) if period else subscription.current_period_start
    end = datetime.fromtimestamp(period["end"], UTC) if period else subscription.current_period_end
    return GatewayInvoice(
        external_id=str(obj["id"]),
        amount_cents=int(obj.get("amount_paid", obj.get("amount_due", 0))),
        currency=str(obj.get("currency", "usd")),
        paid=True,
        hosted_url=obj.get("hosted_invoice_url"),
        period_start=start,
        period_end=end,
    )


class ProcessGatewayEvent:
    """Job handler for topics.GATEWAY_EVENT."""

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

    async def __call__(self, message: OutboxMessage) -> None:
        async with self._uow_factory() as uow:
            event = await uow.received_events.lock(str(message.payload["event_id"]))
            if event is None or event.processed_at is not None:
                return
            if event.type in HANDLED:
                await self._apply(uow, event)
            event.processed_at = self._clock.now()
            await uow.received_events.update(event)
            await uow.commit()

    async def _apply(self, uow: BillingUnitOfWork, event: ReceivedEvent) -> None:
        obj: Mapping[str, Any] = event.payload["data"]["object"]
        external_id = _subscription_id(obj)
        subscription = await uow.subscriptions.get_by_external_id(external_id) if external_id else None
        if subscription is None:
            log.warning("billing.webhook_unknown_subscription", extra={"event_id": event.id, "type": event.type})
            return
        await self._sync(uow, subscription)
        if event.type == "invoice.paid":
            plan = self._plans.get(subscription.plan)
            await record_payment(
                uow,
                self._clock,
                self._invoice_link,
                user_id=subscription.user_id,
                invoice=_invoice_of(obj, subscription),
                plan=plan,
                description=f"{plan.name} plan",
            )
        elif event.type == "invoice.payment_failed":
            plan = self._plans.get(subscription.plan)
            amount = format_money(int(obj.get("amount_due", plan.price_cents)), str(obj.get("currency", plan.currency)))
            await queue_email(uow, self._clock, subscription.user_id, "payment_failed", amount=amount, plan=plan.name)

    async def _sync(self, uow: BillingUnitOfWork, subscription: Subscription) -> None:
        """Make our row match the gateway's current state (re-fetched)."""
        assert subscription.external_id is not None
        remote = await self._gateway.retrieve_subscription(subscription.external_id)
        new_period = remote.current_period_start > subscription.current_period_start
        subscription.status = status_of(remote)
        subscription.current_period_start = remote.current_period_start
        subscription.current_period_end = remote.current_period_end
        subscription.cancel_at_period_end = remote.cancel_at_period_end
        if new_period and subscription.pending_plan and subscription.pending_plan != FREE:
            subscription.plan, subscription.pending_plan = subscription.pending_plan, None  # the downgrade is due
        elif remote.plan and remote.plan != subscription.plan and not subscription.pending_plan:
            subscription.plan = remote.plan  # e.g. an upgrade whose payment the customer just completed
            subscription.client_secret = None
        if subscription.status is SubscriptionStatus.CANCELED:
            subscription.pending_plan = None
            await uow.accounts.set_plan(subscription.user_id, FREE)
        elif subscription.grants_plan:
            await uow.accounts.set_plan(subscription.user_id, subscription.plan)
        if subscription.status is SubscriptionStatus.INCOMPLETE and remote.client_secret:
            subscription.client_secret = remote.client_secret
        subscription.updated_at = self._clock.now()
        await uow.subscriptions.update(subscription)
