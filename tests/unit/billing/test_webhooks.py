"""Gateway events: stored once, applied by the job in billing's words (the local gateway's event shape),
with the subscription re-fetched so that neither duplicates nor disorder change the outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.payments.local import local_event
from domain.billing.errors import GatewayError
from domain.billing.model import FREE, SubscriptionStatus
from domain.billing.ports import GatewayEventKind
from tests.factories.billing import GatewayInvoiceFactory
from tests.unit.billing.conftest import BillingKit


async def deliver(kit: BillingKit, event: dict[str, object]) -> bool:
    stored = await kit.receive_event(str(event["id"]), str(event["type"]), event)
    await kit.run_jobs()
    return stored


async def subscribed(kit: BillingKit, plan: str = "plus") -> tuple[str, str]:
    """A subscribed account: (its email, the gateway's subscription id)."""
    account = await kit.account()
    await kit.subscribe(account.user_id, plan)
    await kit.run_jobs()
    external_id = (await kit.subscription(account.user_id)).external_id
    assert external_id is not None
    return account.email, external_id


async def test_a_paid_invoice_is_recorded_once_however_often_it_is_delivered(kit: BillingKit) -> None:
    email, external_id = await subscribed(kit)
    invoice = GatewayInvoiceFactory.build(amount_cents=2_000)
    paid = local_event("evt_1", GatewayEventKind.INVOICE_PAID, external_id, invoice)

    assert await deliver(kit, paid) is True
    assert await deliver(kit, paid) is False  # Stripe retries deliveries: stored once
    await deliver(kit, local_event("evt_2", GatewayEventKind.INVOICE_PAID, external_id, invoice))  # same invoice

    payments = await kit.payments(await kit.stored_subscriber(email))
    assert [p.external_id for p in payments].count(invoice.external_id) == 1
    assert kit.emails(email).count("payment_receipt") == 2  # the first invoice's, and this one's


async def test_a_subscription_the_gateway_ended_is_canceled_and_a_late_update_cannot_revive_it(
    kit: BillingKit,
) -> None:
    email, external_id = await subscribed(kit)
    user_id = await kit.stored_subscriber(email)
    await kit.gateway.set_cancel_at_period_end(external_id, True, "cancel-at-the-gateway")
    kit.clock.advance(timedelta(days=31))
    await kit.gateway.renew(external_id, "the-gateway-closes-the-period")  # ended there, not by Parley

    await deliver(kit, local_event("evt_deleted", GatewayEventKind.SUBSCRIPTION_CHANGED, external_id))
    await deliver(kit, local_event("evt_stale_update", GatewayEventKind.SUBSCRIPTION_CHANGED, external_id))

    subscription = await kit.subscription(user_id)
    assert subscription.status is SubscriptionStatus.CANCELED
    assert (await kit.stored_account(user_id)).plan == FREE


async def test_a_failed_payment_is_emailed_with_the_amount_due(kit: BillingKit) -> None:
    email, external_id = await subscribed(kit)
    due = GatewayInvoiceFactory.build(amount_cents=2_040, paid=False)

    await deliver(kit, local_event("evt_failed", GatewayEventKind.INVOICE_PAYMENT_FAILED, external_id, due))

    [failed] = [m for m in kit.mailer.sent if m.subject == "payment_failed"]
    assert failed.to == email and "amount=$20.40" in failed.text
    assert len(await kit.payments(await kit.stored_subscriber(email))) == 1  # nothing recorded as paid


async def test_events_of_other_kinds_or_unknown_subscriptions_are_processed_without_effect(kit: BillingKit) -> None:
    email, external_id = await subscribed(kit)
    user_id = await kit.stored_subscriber(email)
    before = await kit.subscription(user_id)

    await deliver(kit, local_event("evt_other", GatewayEventKind.OTHER, external_id))
    unknown = GatewayInvoiceFactory.build()
    await deliver(kit, local_event("evt_unknown", GatewayEventKind.INVOICE_PAID, "sub_nobody", unknown))

    assert await kit.subscription(user_id) == before
    assert [p.external_id for p in await kit.payments(user_id)].count(unknown.external_id) == 0
    async with kit.uow() as uow:
        events = [await uow.received_events.lock(event_id) for event_id in ("evt_other", "evt_unknown")]
    assert all(event is not None and event.processed_at is not None for event in events)


async def test_a_malformed_event_fails_its_job_and_stays_unprocessed(kit: BillingKit) -> None:
    await kit.receive_event("evt_bad", "invoice_paid", {"id": "evt_bad", "type": "no such kind"})

    with pytest.raises(GatewayError):
        await kit.run_jobs()

    async with kit.uow() as uow:
        stored = await uow.received_events.lock("evt_bad")
    assert stored is not None and stored.processed_at is None


async def test_a_renewal_applies_the_same_whichever_of_its_events_comes_first(kit: BillingKit) -> None:
    email, external_id = await subscribed(kit, plan="pro")
    user_id = await kit.stored_subscriber(email)
    await kit.subscribe(user_id, "plus")  # a downgrade, due at the period end
    kit.clock.advance(timedelta(days=31))
    renewed = await kit.gateway.renew(external_id, "the-gateway-renews")
    assert renewed.latest_invoice is not None

    await deliver(kit, local_event("evt_paid", GatewayEventKind.INVOICE_PAID, external_id, renewed.latest_invoice))
    after_invoice = await kit.subscription(user_id)
    await deliver(kit, local_event("evt_updated", GatewayEventKind.SUBSCRIPTION_CHANGED, external_id))

    assert await kit.subscription(user_id) == after_invoice
    assert (after_invoice.plan, after_invoice.pending_plan) == ("plus", None)
    assert after_invoice.current_period_start == renewed.current_period_start
    assert (await kit.stored_account(user_id)).plan == "plus"
    assert [p.amount_cents for p in await kit.payments(user_id)] == [2_000, 5_000]
