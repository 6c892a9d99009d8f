"""Billing's analytics facts: a subscription started, upgraded, downgraded (when the lower plan takes over),
renewed and canceled, payments succeeded, failed and refunded; each once, however often its job or webhook
runs, in the unit of work of the change."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from adapters.memory.database import Transaction
from adapters.memory.facts import InMemoryFactLog
from adapters.payments.local import local_event
from application.shared.facts import Fact, FactKind
from domain.billing.ports import GatewayEventKind
from tests.factories.billing import GatewayInvoiceFactory
from tests.unit.billing.conftest import BillingKit


def facts(kit: BillingKit, kind: FactKind | None = None) -> list[Fact]:
    return [f for f in InMemoryFactLog(Transaction(kit.db)).all() if kind is None or f.kind is kind]


async def deliver(kit: BillingKit, event: dict[str, object]) -> None:
    await kit.receive_event(str(event["id"]), str(event["type"]), event)
    await kit.run_jobs()


async def test_a_subscription_records_its_life_and_its_payments(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    await kit.subscribe(account.user_id, "pro")  # upgrade, prorated payment
    await kit.subscribe(account.user_id, "plus")  # downgrade: waits for the period end
    assert facts(kit, FactKind.SUBSCRIPTION_DOWNGRADED) == []
    kit.clock.advance(timedelta(days=32))
    assert await kit.run_cycle() == 1
    assert await kit.run_cycle() == 0  # a second scheduler run closes nothing twice
    await kit.cancel(account.user_id)
    kit.clock.advance(timedelta(days=31))
    await kit.run_cycle()
    await kit.run_jobs()

    counted = Counter(f.kind for f in facts(kit))
    assert counted == {
        FactKind.SUBSCRIPTION_STARTED: 1,
        FactKind.SUBSCRIPTION_UPGRADED: 1,
        FactKind.SUBSCRIPTION_DOWNGRADED: 1,
        FactKind.SUBSCRIPTION_RENEWED: 1,
        FactKind.SUBSCRIPTION_CANCELED: 1,
        FactKind.PAYMENT_SUCCEEDED: 3,  # the first period, the upgrade, the renewal
    }
    [started] = facts(kit, FactKind.SUBSCRIPTION_STARTED)
    assert started.user_id == account.user_id
    assert started.data | {} == {
        "subscription_id": started.data["subscription_id"],
        "plan": "plus",
        "previous_plan": None,
        "price_cents": 2_000,
        "currency": "usd",
        "status": "active",
    }
    [upgraded] = facts(kit, FactKind.SUBSCRIPTION_UPGRADED)
    [downgraded] = facts(kit, FactKind.SUBSCRIPTION_DOWNGRADED)
    assert (upgraded.data["previous_plan"], upgraded.data["plan"]) == ("plus", "pro")
    assert (downgraded.data["previous_plan"], downgraded.data["plan"]) == ("pro", "plus")
    payments = {p.id for p in await kit.payments(account.user_id)}
    assert {f.data["payment_id"] for f in facts(kit, FactKind.PAYMENT_SUCCEEDED)} == {str(p) for p in payments}
    assert account.email not in repr(facts(kit))


async def test_a_replayed_webhook_records_its_facts_once(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    external_id = (await kit.subscription(account.user_id)).external_id
    invoice = GatewayInvoiceFactory.build(amount_cents=2_000)
    failed = local_event("evt_failed", GatewayEventKind.INVOICE_PAYMENT_FAILED, external_id, invoice)
    paid = local_event("evt_paid", GatewayEventKind.INVOICE_PAID, external_id, invoice)

    for _ in range(2):
        await deliver(kit, failed)
        await deliver(kit, paid)
        await deliver(kit, {**paid, "id": "evt_paid_again"})  # another event about the same invoice

    assert len(facts(kit, FactKind.PAYMENT_FAILED)) == 1
    assert [f.data["amount_cents"] for f in facts(kit, FactKind.PAYMENT_FAILED)] == [2_000]
    assert len(facts(kit, FactKind.PAYMENT_SUCCEEDED)) == 2  # the first period's, and this invoice's


async def test_a_refund_records_the_amount_newly_refunded_once(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    [payment] = await kit.payments(account.user_id)
    assert payment.external_id is not None

    def refunded(event_id: str, cents: int) -> dict[str, object]:
        event = local_event(event_id, GatewayEventKind.CHARGE_REFUNDED)
        return event | {"refund": {"invoice_id": payment.external_id, "refunded_cents": cents, "currency": "usd"}}

    await deliver(kit, refunded("evt_r1", 500))
    await deliver(kit, refunded("evt_r1", 500))  # a retried delivery
    await deliver(kit, refunded("evt_r2", 2_000))  # the rest: Stripe reports the total refunded so far
    await deliver(kit, refunded("evt_r0", 500))  # a late event says less than is recorded

    assert sorted(int(f.data["amount_cents"] or 0) for f in facts(kit, FactKind.PAYMENT_REFUNDED)) == [500, 1_500]
    [stored] = await kit.payments(account.user_id)
    assert stored.refunded_cents == 2_000
