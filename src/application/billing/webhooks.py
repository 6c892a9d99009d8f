"""Gateway webhooks: verified events are stored on receipt (the id is unique, so a duplicate is answered
2xx and applied once) together with a job, and the job applies them. The gateway's adapter reads the stored
event (`parse_event`); this branches only on what it means. The job never trusts the order of events or the
object in the body: it re-fetches the subscription, so a late `updated` cannot revive a deleted one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from application.billing import topics
from application.billing.facts import Before, payment_fact, payment_failed_fact, record_changes
from application.billing.money import format_money
from application.billing.notices import queue_email
from application.billing.payments import InvoiceLink, record_payment
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork, ReceivedEvent
from application.shared.facts import FactKind
from application.shared.ports import OutboxMessage
from domain.billing.model import Subscription
from domain.billing.ports import GatewayEvent, GatewayEventKind, GatewayRefund, PaymentGateway
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")


class ReceiveGatewayEvent:
    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, event_id: str, event_type: str, payload: Mapping[str, Any]) -> bool:
        """Store a verified event as received and queue its processing; False if it was received before."""
        now = self._clock.now()
        async with self._uow_factory() as uow:
            stored = await uow.received_events.add(
                ReceivedEvent(id=event_id, type=event_type, payload=dict(payload), received_at=now)
            )
            if stored:
                message = OutboxMessage(topic=topics.GATEWAY_EVENT, payload={"event_id": event_id}, created_at=now)
                await uow.outbox.add(message)
            await uow.commit()
        log.info("billing.webhook", extra={"event_id": event_id, "type": event_type, "duplicate": not stored})
        return stored


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
            parsed = self._gateway.parse_event(event.payload)
            if parsed.kind is not GatewayEventKind.OTHER:
                await self._apply(uow, event, parsed)
            event.processed_at = self._clock.now()
            await uow.received_events.update(event)
            await uow.commit()

    async def _apply(self, uow: BillingUnitOfWork, event: ReceivedEvent, parsed: GatewayEvent) -> None:
        if parsed.kind is GatewayEventKind.CHARGE_REFUNDED and parsed.refund is not None:
            await self._refunded(uow, event, parsed.refund)
            return
        external_id = parsed.subscription_external_id
        subscription = await uow.subscriptions.get_by_external_id(external_id) if external_id else None
        if subscription is None:
            log.warning("billing.webhook_unknown_subscription", extra={"event_id": event.id, "type": event.type})
            return
        await self._sync(uow, subscription)
        plan = self._plans.get(subscription.plan)
        if parsed.kind is GatewayEventKind.INVOICE_PAID and parsed.invoice is not None:
            await record_payment(
                uow,
                self._clock,
                self._invoice_link,
                user_id=subscription.user_id,
                invoice=parsed.invoice,
                plan=plan,
                description=f"{plan.name} plan",
            )
        elif parsed.kind is GatewayEventKind.INVOICE_PAYMENT_FAILED:
            invoice = parsed.invoice
            amount = format_money(
                invoice.amount_cents if invoice else plan.price_cents, invoice.currency if invoice else plan.currency
            )
            await queue_email(uow, self._clock, subscription.user_id, "payment_failed", amount=amount, plan=plan.name)
            await uow.facts.record(payment_failed_fact(subscription, invoice, self._plans, event.id, self._clock.now()))

    async def _refunded(self, uow: BillingUnitOfWork, event: ReceivedEvent, refund: GatewayRefund) -> None:
        """Record how much of the paid invoice went back, and the payment.refunded fact of what is newly
        refunded (keyed by the event: a replay, or a late event saying no more, records nothing)."""
        payment = await uow.payments.get_by_external_id(refund.invoice_external_id)
        if payment is None:
            log.warning("billing.refund_unknown_payment", extra={"event_id": event.id})
            return
        newly = payment.refund(refund.refunded_cents)
        if newly <= 0:
            return
        await uow.payments.update(payment)
        now = self._clock.now()
        await uow.facts.record(payment_fact(FactKind.PAYMENT_REFUNDED, payment, newly, event.id, now))
        log.info("billing.refunded", extra={"user_id": str(payment.user_id), "amount_cents": newly})

    async def _sync(self, uow: BillingUnitOfWork, subscription: Subscription) -> None:
        """Make our row match the gateway's current state (re-fetched), and the account's plan with it unless a
        newer subscription of the user's decides it (a late event about an old one changes only that one)."""
        assert subscription.external_id is not None
        remote = await self._gateway.retrieve_subscription(subscription.external_id)
        before = Before.of(subscription)
        subscription.sync(remote, self._clock.now())
        await uow.subscriptions.update(subscription)
        await record_changes(uow, before, subscription, self._plans, self._clock.now())
        newest = await uow.subscriptions.get_for_user(subscription.user_id)
        if newest is None or newest.id == subscription.id:
            await uow.accounts.set_plan(subscription.user_id, subscription.entitled_plan)
